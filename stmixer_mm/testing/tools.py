"""Running ``python tools/X.py ...`` as a user does (repository root, CPU, one
thread): a script of ``tools/`` in this interpreter (process state restored,
no ~8 s of imports), other commands and ``subprocess=True`` in a new one."""
import ast
import contextlib
import importlib
import io
import logging
import os
import random
import re
import runpy
import signal
import subprocess as _subprocess
import sys
import traceback
import warnings

from .paths import repo_path, repo_root

# The tiny config's random train steps (frame / scale jitter, flip) off, for
# tests needing fixed samples (resuming does not: RandomStateHook saves them)
DETERMINISTIC_TRAIN = [
    'train_dataloader.dataset.pipeline.0.test_mode=True',
    'train_dataloader.dataset.pipeline.2.scale_range=(64,64)',
    'train_dataloader.dataset.pipeline.3.flip_ratio=0.0',
]


def tool_env() -> dict:
    """The environment of a tool's subprocess."""
    env = dict(os.environ)
    # CPU even on a GPU machine: the 2-process tests would otherwise need 2
    # GPUs (mmengine binds rank i to GPU i)
    env.update(
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONHASHSEED='0',
        CUDA_VISIBLE_DEVICES='')
    return env


def run_tool(cmd, timeout=600, check=True, cwd=None, subprocess=False):
    """Run ``cmd`` from the repository root (or ``cwd``, e.g. a user's folder
    with the config's relative ``data/``); return the CompletedProcess.
    ``python tools/<script>.py ...`` runs in this interpreter (:func:`run_cli`
    for a command line of ``stmixer_mm.apps.cli``, else :func:`run_script`)
    unless ``subprocess``; with ``check`` a non-zero exit fails the test with
    the output's tail."""
    cwd = str(cwd or repo_root())
    cmd = [str(c) for c in cmd]
    if not subprocess and len(cmd) > 1 and cmd[0] == sys.executable and \
            cmd[1].endswith('.py'):
        script = os.path.join(cwd, cmd[1])
        entry = cli_entry(script)
        if entry is not None:
            return run_cli(script, cmd[2:], *entry, check=check, cwd=cwd)
        tools = os.path.join(os.path.realpath(repo_root()), 'tools', '')
        # (also through a user's link to tools/)
        if os.path.realpath(script).startswith(tools):
            return run_script(script, cmd[2:], check=check, cwd=cwd)
    proc = _subprocess.run(
        cmd,
        cwd=cwd,
        env=tool_env(),
        stdout=_subprocess.PIPE,
        stderr=_subprocess.PIPE,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        _fail(cmd, proc)
    return proc


def python_tool(tool, *args, **kwargs):
    """``python tools/<tool> *args`` (see :func:`run_tool`)."""
    return run_tool(
        [sys.executable, repo_path('tools', tool), *args], **kwargs)


def cli_entry(script):
    """``(module, keywords, exits)`` of a script that is a command line of
    ``stmixer_mm.apps.cli`` (``main(**keywords)`` under ``__main__``, its
    result the exit status when ``exits``), None for other scripts; the
    script is read, not run."""
    with open(script) as f:
        tree = ast.parse(f.read())
    module = next(
        (node.module for node in tree.body if isinstance(node, ast.ImportFrom)
         and node.module and node.module.startswith('stmixer_mm.apps.cli.')
         and [a.name for a in node.names] == ['main']), None)
    calls = [
        node for node in ast.walk(tree) if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name) and node.func.id == 'main'
    ]
    if module is None or len(calls) != 1 or calls[0].args:
        return None
    keywords = {k.arg: ast.literal_eval(k.value) for k in calls[0].keywords}
    exits = any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == 'exit' and calls[0] in node.args
        for node in ast.walk(tree))
    return module, keywords, exits


def _fail(cmd, proc):
    import pytest
    pytest.fail(f'{" ".join(map(str, cmd))} exited with {proc.returncode}\n'
                f'--- stdout (tail) ---\n{proc.stdout[-3000:]}\n'
                f'--- stderr (tail) ---\n{proc.stderr[-5000:]}')


def _all_registries():
    """mmengine's root registries and every child of them (mmdet's,
    mmaction2's, this package's)."""
    from mmengine.registry import Registry, root
    found, todo = [], [
        r for r in vars(root).values() if isinstance(r, Registry)
    ]
    while todo:
        registry = todo.pop()
        found.append(registry)
        todo.extend(registry._children.values())
    return found


def _show_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(
        warnings.formatwarning(message, category, filename, lineno, line))


def _managers():
    """Every class of mmengine's named instances (``ManagerMixin``:
    loggers, message hubs, default scopes, each visualizer class)."""
    from mmengine.utils import ManagerMixin
    found, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if '_instance_dict' in vars(cls):
            found.append(cls)
    return found


def _forget_user_modules(new):
    """Unimport and unregister the modules of ``new`` that are neither
    installed nor the checkout's (a config's ``custom_imports`` of a user's
    file), so that the next run imports its own file of the same name."""
    kept = tuple(
        os.path.join(os.path.abspath(p), '')
        for p in (sys.prefix, sys.base_prefix, repo_root()))
    gone = set()
    for name in new:
        path = getattr(sys.modules[name], '__file__', None)
        if path and not os.path.abspath(path).startswith(kept):
            gone.add(name)
            del sys.modules[name]
    for registry in _all_registries() if gone else ():
        for key, obj in list(registry._module_dict.items()):
            if getattr(obj, '__module__', None) in gone:
                del registry._module_dict[key]


@contextlib.contextmanager
def _restored_process_state(script, argv, cwd):
    """A tool's run in this process as in a new one, and what it changes put
    back on exit: argv, cwd, ``sys.path`` (the script's folder and
    ``PYTHONPATH`` first, as the interpreter puts them), environment, signal
    handlers, warning filters, random generators, thread count, grad mode,
    default dtype, deterministic algorithms, inductor's settings, root
    logger handlers, user modules and mmengine's named instances (none
    during the run, so that its loggers write to its stdout). A plugin that
    patches the package stays patched: run it in a new interpreter."""
    import numpy as np
    import torch
    # imported before the run (~2 s, once): settings of a tool that is the
    # first to import it are put back too
    import torch._inductor.config as inductor
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    saved_modules = set(sys.modules)
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)
    saved_signals = {
        s: signal.getsignal(s)
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    }
    saved_threads = torch.get_num_threads()
    saved_torch = (torch.is_grad_enabled(), torch.get_default_dtype(),
                   torch.are_deterministic_algorithms_enabled())
    saved_inductor = inductor.get_config_copy()
    saved_rng = (random.getstate(), np.random.get_state(),
                 torch.random.get_rng_state())
    saved_instances = {m: dict(m._instance_dict) for m in _managers()}
    for manager in saved_instances:
        manager._instance_dict.clear()
    root_logger = logging.getLogger()
    saved_handlers = root_logger.handlers[:]
    sys.argv = [script, *argv]
    # the interpreter's: the script's folder, then PYTHONPATH's entries
    python_path = os.environ.get('PYTHONPATH', '').split(os.pathsep)
    sys.path[:0] = [os.path.dirname(os.path.abspath(script))
                    ] + [p for p in python_path if p]
    os.chdir(cwd)
    os.environ.update(tool_env())
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            # the interpreter's: each warning once per place, on stderr
            warnings.resetwarnings()
            for category in (DeprecationWarning, PendingDeprecationWarning,
                             ImportWarning, ResourceWarning):
                warnings.simplefilter('ignore', category)
            # as the package's import does in a new process
            from stmixer_mm.known_warnings import quiet_known_warnings
            quiet_known_warnings()
            warnings.showwarning = _show_warning
            yield
    finally:
        for manager in _managers():
            for instance in manager._instance_dict.values():
                for handler in getattr(instance, 'handlers', [])[:]:
                    handler.close()
                    instance.removeHandler(handler)
            manager._instance_dict.clear()
            manager._instance_dict.update(saved_instances.get(manager, {}))
        _forget_user_modules(set(sys.modules) - saved_modules)
        root_logger.handlers[:] = saved_handlers
        random.setstate(saved_rng[0])
        np.random.set_state(saved_rng[1])
        torch.random.set_rng_state(saved_rng[2])
        torch.set_num_threads(saved_threads)
        torch.set_grad_enabled(saved_torch[0])
        torch.set_default_dtype(saved_torch[1])
        torch.use_deterministic_algorithms(saved_torch[2])
        inductor.load_config(saved_inductor)
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.argv, sys.path[:] = saved_argv, saved_path


def run_cli(script,
            argv,
            module,
            keywords=None,
            exits=False,
            check=True,
            cwd=None):
    """``python script *argv`` for a ``script`` whose command line is
    ``module.main`` (:func:`cli_entry`), in this interpreter from the
    repository root (or ``cwd``), as :func:`run_tool` returns. An uncaught
    exception gives status 1 and its traceback on stderr, ``SystemExit`` its
    code, as the interpreter does."""

    def call():
        result = importlib.import_module(module).main(**(keywords or {}))
        return (result or 0) if exits else 0

    return _run_here(script, argv, call, check, cwd)


def run_script(script, argv, check=True, cwd=None):
    """``python script *argv`` run by :mod:`runpy` as ``__main__`` in this
    interpreter, as :func:`run_cli` runs a command line."""

    def call():
        runpy.run_path(script, run_name='__main__')
        return 0

    return _run_here(script, argv, call, check, cwd)


def _run_here(script, argv, call, check, cwd):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _restored_process_state(script, argv, cwd or repo_root()), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = call()
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except Exception:  # what the interpreter prints for an uncaught one
            traceback.print_exc()
            code = 1
    proc = _subprocess.CompletedProcess([sys.executable, script, *argv], code,
                                        out.getvalue(), err.getvalue())
    if check and code != 0:
        _fail(proc.args, proc)
    return proc


def metric(text, name):
    """The last logged value of metric ``name`` (e.g. ``mAP/overall``)."""
    # a number (the run summary writes '(the best mAP/overall: 0.8123)')
    found = re.findall(
        re.escape(name) + r': ([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan)',
        text)
    assert found, f'{name} not found in the output'
    return float(found[-1])


def http_exchange(address: tuple,
                  head: str,
                  body: bytes = b'',
                  end_body: bool = False,
                  timeout: float = 10) -> tuple:
    """One raw HTTP exchange with a test server (the browser demo's tests).

    Args:
        address (tuple): The server's ``(host, port)``.
        head (str): The request line and headers, without the blank line.
        body (bytes): The body sent after them.
        end_body (bool): Close the sending side after the body.
        timeout (float): Of the socket, in seconds (a hang fails).

    Returns:
        tuple: ``(status, headers, data)``: the headers read as Latin-1 (as
        HTTP has them), the data parsed when JSON, else bytes.
    """
    import json
    import socket
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(head.encode('latin-1') + b'\r\n\r\n' + body)
        if end_body:
            s.shutdown(socket.SHUT_WR)
        answer = b''
        while chunk := s.recv(1 << 16):
            answer += chunk
    head, _, data = answer.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = dict(line.split(': ', 1) for line in lines[1:])
    if headers.get('Content-Type') == 'application/json':
        data = json.loads(data)
    return int(lines[0].split()[1]), headers, data
