"""The command line of the browser demo (``stmixer-web``,
``tools/web_demo.py``): serve the page of :mod:`stmixer_mm.apps.web_demo`
until Ctrl-C (docs/en/web_demo.md)."""
import argparse
import os
import re
import shutil
import sys
import tempfile
import traceback

from stmixer_mm.apis.output_files import check_writable_dir
from stmixer_mm.apis.package_files import package_config
from stmixer_mm.apps.command_errors import (command_error, command_name,
                                            whole_number)
from stmixer_mm.apps.stop_signals import (RunInterrupted, on_stop_signals,
                                          signal_name)
from stmixer_mm.apps.web_demo import WebDemo, make_server
from stmixer_mm.apps.web_demo.jobs import MAX_NAME_CHARS
from stmixer_mm.apps.web_demo.server import (MAX_LIMIT_BYTES, MAX_REQUEST_KB,
                                             MAX_UPLOAD_MB)
from . import frame_bound_or_exit

__all__ = ['parse_args', 'build_server', 'main', 'QUICKSTART_CONFIG']

#: the config the page offers when none is given (relative to configs/)
QUICKSTART_CONFIG = ('quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_'
                     'synthetic-ava-rgb.py')


def port_number(text: str) -> int:
    """``--port``: 0 (a free port) to 65535, in ASCII digits."""
    digits = text.strip()
    value = int(digits) if re.fullmatch(r'[0-9]{1,5}', digits) else -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f'expected a port number in [0, 65535] (0: a free one), got '
            f'{text!r}')
    return value


def upload_mb(text: str) -> int:
    """``--max-upload-mb``: MiB, at most what the server counts."""
    return whole_number(text, MAX_LIMIT_BYTES >> 20)


def request_kb(text: str) -> int:
    """``--max-request-kb``: KiB, at most what the server counts."""
    return whole_number(text, MAX_LIMIT_BYTES >> 10)


def name_length(text: str) -> int:
    """``--max-name-length``: characters, at most what file systems take
    (a kept name is ASCII, one byte a character)."""
    return whole_number(
        text, MAX_NAME_CHARS,
        f': file systems take names of at most {MAX_NAME_CHARS} bytes')


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    """The options of ``stmixer-web``.

    Args:
        argv (list[str], optional): The arguments (default
            ``sys.argv[1:]``).
        prog (str, optional): The command's name in the usage line.

    Returns:
        argparse.Namespace: ``config``, ``checkpoint``, ``video`` (list),
        ``host``, ``port``, ``work_dir``, ``device``, ``label_map``,
        ``max_upload_mb``, ``max_request_kb``, ``max_name_length``,
        ``verbose``.
    """
    p = argparse.ArgumentParser(
        prog=prog,
        description='STMixer demo in the browser: choose or upload a video, '
        'a config and a checkpoint; see the drawn video, a timeline of each '
        "person's actions, and download the JSON (Python's http.server: no "
        'extra package)')
    p.add_argument(
        '--config',
        help='config offered first (default: the quick-start config, '
        f'configs/{QUICKSTART_CONFIG})')
    p.add_argument(
        '--checkpoint',
        help='checkpoint offered (e.g. the quick start\'s '
        'work_dirs/quickstart/<run>/epoch_36.pth); without one the page '
        'asks for an upload')
    p.add_argument(
        '--video',
        action='append',
        default=[],
        help='a video offered besides the synthetic demo video (repeat for '
        'more; the first one is chosen first, else the synthetic video)')
    p.add_argument(
        '--host',
        default='127.0.0.1',
        help='address to listen on (default: this machine only; 0.0.0.0: '
        'every interface)')
    p.add_argument(
        '--allow-config-upload',
        action='store_true',
        help='let the page upload configs (a .py config runs when mmengine '
        'reads it: only where people you trust reach the page); without '
        'it, the configs are those given with --config')
    p.add_argument(
        '--port',
        type=port_number,
        default=8000,
        help='port to listen on (0: a free one, printed)')
    p.add_argument(
        '--work-dir',
        help='folder of the uploads and outputs, kept (default: a temporary '
        'folder, removed when the server stops)')
    p.add_argument('--device', default='cpu')
    p.add_argument(
        '--label-map',
        help="AVA label map (.pbtxt) or ACT pickle (.pkl) naming the "
        "actions (default: as stmixer-demo, the config's or the "
        "checkpoint's)")
    p.add_argument(
        '--max-upload-mb',
        type=upload_mb,
        default=MAX_UPLOAD_MB,
        help=f'largest upload taken, in MiB (default: {MAX_UPLOAD_MB}); a '
        'larger one is refused (413) before any of it is written')
    p.add_argument(
        '--max-request-kb',
        type=request_kb,
        default=MAX_REQUEST_KB,
        help='largest JSON request (a run\'s settings) taken, in KiB '
        f'(default: {MAX_REQUEST_KB})')
    p.add_argument(
        '--max-name-length',
        type=name_length,
        default=MAX_NAME_CHARS,
        help='longest name of an uploaded file taken, in characters '
        f'(default: {MAX_NAME_CHARS}, what most file systems take; at most '
        f'{MAX_NAME_CHARS})')
    p.add_argument(
        '--verbose', action='store_true', help='log each request to stderr')
    return p.parse_args(argv)


def build_server(args: argparse.Namespace):
    """The bound server of the parsed options (nothing served yet).

    Args:
        args (argparse.Namespace): From :func:`parse_args`.

    Returns:
        ThreadingHTTPServer: See :func:`~stmixer_mm.apps.web_demo.
        make_server`; ``temp_dir`` is the work folder made for it (None
        when ``--work-dir`` is given).

    Raises:
        ValueError: A given file that does not exist.
        OSError: ``--work-dir`` cannot be written, or the address cannot
            be bound.
    """
    config = args.config or package_config(QUICKSTART_CONFIG)
    if args.work_dir:
        check_writable_dir(args.work_dir, '--work-dir')
    temp_dir = None if args.work_dir else tempfile.mkdtemp(
        prefix='stmixer-web-')
    try:
        demo = WebDemo(
            args.work_dir or temp_dir,
            config,
            args.checkpoint,
            args.video,
            args.device,
            args.label_map,
            args.allow_config_upload,
            args.max_name_length,
            config_given=args.config is not None)
        try:
            server = make_server(demo, args.host, args.port, args.verbose,
                                 args.max_upload_mb << 20,
                                 args.max_request_kb << 10)
        except OSError as e:
            demo.close()
            raise OSError(
                f'cannot listen on {args.host}:{args.port} ({e.strerror or e}'
                '); --port 0 picks a free port') from None
    except BaseException:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    server.temp_dir = temp_dir
    return server


#: seconds :func:`main` waits for the job that runs to stop before it exits
STOP_WAIT_S = 60.0


def _stop(signum: int) -> None:
    raise RunInterrupted(signum, f'stopped by {signal_name(signum)}')


def main(argv=None, prog=None) -> int:
    """Serve the page until Ctrl-C or another stop signal (then the job
    that runs stops at its next frame, the worker thread is joined, the
    temporary work folder is removed and the exit code is 128 + the
    signal's number); errors are reported as ``<prog>: error: <message>``
    (exit code 1).

    Args:
        argv (list[str], optional): The arguments (default
            ``sys.argv[1:]``).
        prog (str, optional): The command's name in messages; default
            :func:`~stmixer_mm.apps.command_errors.command_name`.

    Returns:
        int: 0 once stopped (a stop signal exits with 128 + its number).
    """
    prog = prog or command_name()
    args = parse_args(argv, prog=prog)
    frame_bound_or_exit(prog)  # the environment, before any work
    try:
        server = build_server(args)
    except (ValueError, OSError) as e:
        raise SystemExit(command_error(e, prog)) from None
    print(f'{prog}: serving on {server.url} (Ctrl-C stops)', flush=True)
    if args.allow_config_upload and args.host not in ('127.0.0.1', 'localhost',
                                                      '::1'):
        print(
            f'{prog}: warning: --host {args.host} serves other machines and '
            '--allow-config-upload is on: anyone who reaches the page can '
            'upload a .py config, which mmengine executes when it reads it',
            file=sys.stderr)
    try:
        with on_stop_signals(_stop):
            server.serve_forever()
        code = 0
    except RunInterrupted as e:
        print(f'\n{prog}: {e}', file=sys.stderr)
        code = e.exit_code
    except BaseException:  # any: the worker is stopped before the exit
        traceback.print_exc()
        code = 1
    server.server_close()
    stopped = server.demo.close(STOP_WAIT_S)
    if server.temp_dir:
        shutil.rmtree(server.temp_dir, ignore_errors=True)
    if not stopped:
        # a thread still in torch at the interpreter's finalization aborts
        # it (``terminate called without an active exception``): leave
        # without finalizing
        print(
            f'{prog}: warning: the job that runs did not stop within '
            f'{STOP_WAIT_S:g} s; exiting without waiting for it',
            file=sys.stderr,
            flush=True)
        sys.stdout.flush()
        os._exit(code)
    if code:
        sys.exit(code)
    return 0
