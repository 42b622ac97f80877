"""Issue 74, item 3 of the command lines: every tool checks its arguments
before any work or output.

* ``--cfg-options`` items without ``=``, with an empty or malformed key, no
  value or a key twice are refused by the project's own parser (the tools
  reached mmengine's "not enough values to unpack" or a config formatting
  SyntaxError), in every tool and in ``QUICKSTART_CFG_OPTIONS``;
* ``train_cfg.max_epochs`` / ``max_iters`` / ``val_interval`` below 1 are
  refused by the pre-run check (0 epochs trained nothing and exited 0);
* the converters check their arguments before reading or writing (a world
  size of 0 wrote a folder no tool loads; the official converter given
  this project's checkpoint ended in a raw ValueError);
* ``quickstart_table.py`` checks its numbers and ``--cfg-options`` before
  claiming a run, and a failed run gives its claim back.
"""
import ast
import glob
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stmixer_mm.testing import repo_root

REPO = repo_root()

#: the command lines with ``--cfg-options``, and the positional arguments
#: that come before it (never read: the option is refused first)
CFG_OPTION_TOOLS = {
    'train.py': ['CONFIG'],
    'test.py': ['CONFIG', 'CKPT'],
    'demo.py': ['VIDEO', 'CONFIG', 'CKPT'],
    'analysis_tools/check_dataset.py': ['CONFIG'],
    'deployment/export_onnx.py': ['CONFIG', 'CKPT', 'OUT'],
    'model_converters/convert_kinetics_checkpoint.py':
    ['SRC', 'DST', '--config', 'CONFIG'],
    'model_converters/convert_videomae_checkpoint.py':
    ['SRC', 'DST', '--config', 'CONFIG'],
    'model_converters/convert_official_checkpoint.py':
    ['SRC', 'DST', '--config', 'CONFIG'],
    'experiments/quickstart_table.py': [],
}

BAD_CFG_OPTIONS = [
    (['model.foo'], 'no "=": expected KEY=VALUE'),
    (['=2'], 'nothing before "=": expected KEY=VALUE with a non-empty '
     'dotted config key'),
    (['a..b=1'], "the key 'a..b' is not a dotted config key"),
    (['model .x=1'], "the key 'model .x' is not a dotted config key"),
    (['train_cfg.max_epochs='], 'no value after "="'),
    (['x=[1,2'], 'unbalanced brackets'),
    (['x.y=1', 'x.y=2'], "x.y is set already by 'x.y=1'"),
    (['x=1', 'x.y=2'], 'x is set too, by'),
]


@pytest.mark.parametrize('tool', sorted(CFG_OPTION_TOOLS))
@pytest.mark.parametrize('items,expected', BAD_CFG_OPTIONS)
def test_bad_cfg_options_are_refused_by_every_tool(tools, tmp_path, tool,
                                                   items, expected):
    args = [
        str(tmp_path / a) if a.isupper() else a for a in CFG_OPTION_TOOLS[tool]
    ]
    proc = tools.python_tool(tool, *args, '--cfg-options', *items, check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"error: --cfg-options {items[-1]!r}: " in last, last
    assert expected in last, last
    assert 'Traceback' not in proc.stderr
    assert os.listdir(tmp_path) == []


def _cfg_options_actions(path):
    """``(line, how)`` of each ``--cfg-options`` argument of a script."""
    out = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Call) and any(
                isinstance(a, ast.Constant) and a.value == '--cfg-options'
                for a in node.args) and getattr(node.func, 'attr',
                                                '') == 'add_argument':
            action = next(
                (k.value for k in node.keywords if k.arg == 'action'), None)
            out.append((node.lineno, getattr(action, 'id', None)))
    return out


def test_every_cfg_options_goes_through_the_projects_parser():
    """The tools not run above (print_config, get_flops, benchmarks...)
    take ``--cfg-options`` through ``add_cfg_options`` /
    ``CfgOptionsAction`` too, not mmengine's unchecked ``DictAction``; the
    quick-start table parses its strings with ``parse_cfg_options``."""
    scripts = sorted(
        glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True) +
        glob.glob(osp.join(REPO, 'stmixer_mm', 'apps', 'cli', '*.py')) +
        glob.glob(osp.join(REPO, 'projects', '**', '*.py'), recursive=True))
    offenders, checked = [], 0
    for path in scripts:
        text = open(path).read()
        for line, action in _cfg_options_actions(path):
            checked += 1
            if action == 'CfgOptionsAction':
                continue
            if action is None and 'parse_cfg_options(args.cfg_options' in \
                    text:
                continue
            offenders.append(f'{osp.relpath(path, REPO)}:{line} {action}')
    assert offenders == []
    assert checked >= 3  # __init__, benchmark_tracking, quickstart_table
    assert 'DictAction' not in ''.join(
        open(p).read() for p in scripts if not p.endswith('__init__.py'))


@pytest.mark.parametrize('options,key', [
    (['train_cfg.max_epochs=0'], 'train_cfg.max_epochs'),
    (['train_cfg.max_epochs=-3'], 'train_cfg.max_epochs'),
    (['train_cfg.max_epochs=2.5'], 'train_cfg.max_epochs'),
    (['train_cfg.val_interval=0'], 'train_cfg.val_interval'),
    (['train_cfg.type=IterBasedTrainLoop', 'train_cfg.max_iters=0'
      ], 'train_cfg.max_iters'),
])
def test_train_refuses_a_loop_that_trains_nothing(tools, tmp_path, options,
                                                  key):
    """``max_epochs=0`` trained nothing and exited 0 (the quick start then
    stopped on ``ls: cannot access .../epoch_*.pth``)."""
    work = tmp_path / 'work'
    proc = tools.python_tool(
        'train.py',
        tools.TINY_CFG,
        '--work-dir',
        str(work),
        '--cfg-options',
        *options,
        check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert last.startswith(f'train.py: error: {tools.TINY_CFG}: {key} '
                           'must be an int >= 1, got '), last
    assert not work.exists()


# ---------------------------------------------------------------------------
# the converters
# ---------------------------------------------------------------------------
def _convert(tools, name, *args):
    return tools.python_tool(
        f'model_converters/convert_{name}_checkpoint.py',
        *[str(a) for a in args],
        check=False)


def _last_error(proc):
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize('world_size', ['0', '-2', 'two'])
def test_sharded_converter_refuses_a_world_size_below_1(
        tools, tmp_path, random_checkpoint, world_size):
    dst = tmp_path / 'sharded'
    proc = _convert(tools, 'sharded', random_checkpoint, dst, '--to-sharded',
                    '--world-size', world_size)
    assert proc.returncode == 2
    assert 'error: argument --world-size: expected a whole number >= 1' in \
        _last_error(proc)
    assert not dst.exists()


def test_sharded_converter_checks_its_other_arguments(tools, tmp_path,
                                                      random_checkpoint):
    from stmixer_mm.engine import full_to_sharded
    with pytest.raises(
            ValueError, match='world_size: expected a positive '
            'int .*got 0'):
        full_to_sharded(random_checkpoint, str(tmp_path / 'lib'), 0)
    assert not (tmp_path / 'lib').exists()
    # --world-size is not silently unused
    proc = _convert(tools, 'sharded', tmp_path / 'any', tmp_path / 'full.pth',
                    '--world-size', '2')
    assert proc.returncode == 2
    assert '--world-size applies to --to-sharded only' in _last_error(proc)
    # a sharded folder where --to-sharded reads a file
    folder = tmp_path / 'epoch_1.pth'
    full_to_sharded(random_checkpoint, str(folder))
    proc = _convert(tools, 'sharded', folder, tmp_path / 'again',
                    '--to-sharded')
    assert proc.returncode == 2
    assert f'SRC {folder} is a folder; --to-sharded expects a full ' \
        'checkpoint file' in _last_error(proc)
    # merged into an existing folder: torch's "Is a directory" without path
    existing = tmp_path / 'existing'
    existing.mkdir()
    proc = _convert(tools, 'sharded', folder, existing)
    assert proc.returncode == 1
    last = _last_error(proc)
    assert ': error: ' in last and f'{existing} is a folder' in last
    assert os.listdir(existing) == []


def test_official_converter_refuses_a_converted_checkpoint(
        tools, tmp_path, random_checkpoint):
    """This project's own checkpoint: ``error: SRC: ...`` as the Kinetics
    converter says, not a ValueError traceback."""
    dst = tmp_path / 'out.pth'
    proc = _convert(tools, 'official', random_checkpoint, dst)
    assert proc.returncode == 1
    assert _last_error(proc) == (
        f'convert_official_checkpoint.py: error: {random_checkpoint}: this '
        'state dict already has stmixer_mm '
        'names (roi_head.stages.*, or decoder.stages.* of earlier '
        'versions); it needs no conversion')
    assert not dst.exists()


@pytest.mark.parametrize('content,expected', [
    ({
        'weights': {
            'a': torch.zeros(1)
        }
    }, "the checkpoint has no 'state_dict' / 'model' entry"),
    ([torch.zeros(1)], 'expected a dict, got list'),
    ({}, 'cannot tell the backbone of the official checkpoint'),
])
def test_official_converter_names_the_source(tools, tmp_path, content,
                                             expected):
    src = tmp_path / 'src.pth'
    torch.save(content, src)
    proc = _convert(tools, 'official', src, tmp_path / 'out.pth')
    assert proc.returncode == 1
    assert f': error: {src}: {expected}' in _last_error(proc)
    assert not (tmp_path / 'out.pth').exists()


def test_videomae_converter_error_has_no_key_error_quotes(tools, tmp_path):
    src = tmp_path / 'src.pth'
    torch.save({'weights': {'a': torch.zeros(1)}}, src)
    proc = _convert(
        tools, 'videomae', src, tmp_path / 'out.pth', '--config',
        osp.join(REPO, 'tests', 'data', 'configs',
                 'tiny_stmixer_vit_tiny-ava.py'))
    assert proc.returncode == 1
    assert _last_error(proc).startswith(
        f"convert_videomae_checkpoint.py: error: {src}: the checkpoint has "
        "no 'module' / 'state_dict'")


@pytest.mark.parametrize('args,expected', [
    (['--vit-num-frames', '0'
      ], "argument --vit-num-frames: expected a whole number >= 1, got '0'"),
    (['--vit-img-size', '-224'
      ], "argument --vit-img-size: expected a whole number >= 1, got '-224'"),
    (['--vit-num-frames', '8', '--config', 'CONFIG'
      ], '--vit-num-frames applies without --config only'),
    (['--cfg-options', 'model.x=1'
      ], '--cfg-options applies to the model of --config'),
    (['--seed', '3'], '--seed applies to --to-classes only'),
])
def test_official_converter_checks_its_flags(tools, tmp_path, args, expected):
    args = [tools.TINY_CFG if a == 'CONFIG' else a for a in args]
    proc = _convert(tools, 'official', tmp_path / 'never_read.pth',
                    tmp_path / 'out.pth', *args)
    assert proc.returncode == 2
    assert expected in _last_error(proc)


def test_converters_check_the_config_before_reading(tools, tmp_path):
    missing = tmp_path / 'missing_config.py'
    for name in ('official', 'kinetics', 'videomae'):
        proc = _convert(tools, name, tmp_path / 'never_read.pth',
                        tmp_path / 'out.pth', '--config', missing)
        assert proc.returncode == 1
        last = _last_error(proc)
        assert ': error: ' in last and f'{missing}: no such file' \
            in last, (name, last)


# ---------------------------------------------------------------------------
# tools/experiments/quickstart_table.py
# ---------------------------------------------------------------------------
QT = 'experiments/quickstart_table.py'


@pytest.fixture
def fake_runs(monkeypatch):
    """Stand-ins for the runs of ``tools/train.py`` / ``tools/test.py``:
    training writes ``epoch_<max_epochs>.pth`` (2, or a
    ``train_cfg.max_epochs=`` option) unless ``fail`` holds a message;
    testing prints an mAP. Returns the calls and the settings."""
    from stmixer_mm.apps.cli import quickstart_table
    state = dict(calls=[], fail=None)

    def tool(script, args, threads):
        state['calls'].append((script, args, threads))
        if script == 'test.py':
            return 'mAP/overall: 0.5000\n', 1.0
        if state['fail']:
            raise SystemExit(f'train.py exited with 1:\n{state["fail"]}')
        epochs = next((a.split('=')[1]
                       for a in args if a.startswith('train_cfg.max_epochs=')),
                      '2')
        work = args[args.index('--work-dir') + 1]
        open(osp.join(work, f'epoch_{epochs}.pth'), 'w').close()
        return '', 2.0

    def plain_videos(args, last, threads):
        state['calls'].append(('plain videos', last, threads))
        return {
            name: dict(persons=0, keyframes=24)
            for name in quickstart_table.PLAIN_VIDEOS
        }, 1.0

    monkeypatch.setattr(quickstart_table, '_tool', tool)
    monkeypatch.setattr(quickstart_table, '_dark_persons_in_fresh_interpreter',
                        plain_videos)
    return state


@pytest.mark.parametrize('args,expected', [
    (['--threads', '0'], 'argument --threads: expected a whole number >= 1'),
    (['--threads', '-1'], 'argument --threads: expected a whole number >= 1'),
    (['--seeds', '-1'], 'argument --seeds: expected a whole number >= 0'),
    (['--threads', '1', '1'], '--threads: [1] given twice'),
    (['--band', '-0.1'], 'argument --band: expected a number in [0, 1]'),
    (['--stated', 'nan'], 'argument --stated: expected a number in [0, 1]'),
    (['--stated', '98.2'], 'argument --stated: expected a number in [0, 1]'),
    (['--cfg-options', 'model.foo'], "--cfg-options 'model.foo': no \"=\""),
    (['--cfg-options', '=2'], "--cfg-options '=2': nothing before \"=\""),
])
def test_quickstart_table_checks_its_arguments_before_claiming(
        tools, tmp_path, fake_runs, args, expected):
    out = tmp_path / 'table'
    proc = tools.python_tool(
        QT,
        '--config',
        tools.TINY_CFG,
        '--seeds',
        '0',
        '--out-dir',
        str(out),
        *args,
        check=False)
    assert proc.returncode == 2
    assert expected in proc.stderr.strip().splitlines()[-1]
    assert not out.exists() and fake_runs['calls'] == []


def test_quickstart_table_checks_the_config_before_claiming(
        tools, tmp_path, fake_runs):
    out = tmp_path / 'table'
    proc = tools.python_tool(
        QT,
        '--config',
        tools.TINY_CFG,
        '--seeds',
        '0',
        '--threads',
        '1',
        '--out-dir',
        str(out),
        '--cfg-options',
        'train_cfg.max_epochs=0',
        check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f'tools/experiments/quickstart_table.py: error: {tools.TINY_CFG}: '
        'train_cfg.max_epochs must be an int >= 1, got 0 (the number of '
        'epochs to train; below 1 nothing is trained)')
    assert not out.exists() and fake_runs['calls'] == []


def test_quickstart_table_failed_run_gives_its_claim_back(
        tools, tmp_path, fake_runs):
    """A failed training left its folder, and the corrected re-run said
    "another invocation is running it" and exited 0 without the row."""
    out = tmp_path / 'table'
    argv = [
        QT, '--config', tools.TINY_CFG, '--seeds', '0', '--threads', '1',
        '--out-dir',
        str(out), '--cfg-options', 'train_cfg.max_epochs=1'
    ]
    fake_runs['fail'] = 'a training error'
    proc = tools.python_tool(*argv, check=False)
    assert proc.returncode == 1
    assert 'a training error' in proc.stderr
    assert f'{out / "seed0_t1"}: the training failed; its folder is now ' \
        f'{out / "seed0_t1.failed"}' in proc.stderr
    assert sorted(os.listdir(out)) == ['seed0_t1.failed']

    fake_runs['fail'] = None
    proc = tools.python_tool(*argv)
    assert 'another invocation' not in proc.stdout
    # the last checkpoint is that of the --cfg-options' max_epochs
    assert '| 0 | 1 | 0.500 | - | 0 (24 keyframes) | 0 (24 keyframes) | 2 |' \
        in proc.stdout
    assert (out / 'seed0_t1.json').exists()
    assert (out / 'seed0_t1' / 'epoch_1.pth').exists()
    assert [c[0] for c in fake_runs['calls']
            ] == ['train.py', 'train.py', 'test.py', 'plain videos']


# ---------------------------------------------------------------------------
# tools/quickstart.sh
# ---------------------------------------------------------------------------
@pytest.mark.slow  # a shell script and an interpreter importing stmixer_mm
@pytest.mark.parametrize(
    'options,expected',
    [
        ('model.foo', "QUICKSTART_CFG_OPTIONS 'model.foo': no \"=\": expected "
         'KEY=VALUE'),
        ('train_cfg.max_epochs=0', 'with QUICKSTART_CFG_OPTIONS: '
         'train_cfg.max_epochs must be an int >= 1, got 0'),
        # the second line read too (a plain read kept the first: silently lost)
        ('train_cfg.val_interval=1\ntrain_cfg.max_epochs=0',
         'train_cfg.max_epochs must be an int >= 1, got 0'),
    ])
def test_quickstart_checks_its_cfg_options_before_the_data(
        tmp_path, options, expected):
    """The script ran the set-up, the data generator and the training
    before mmengine's "not enough values to unpack" (or trained nothing and
    stopped on ``ls: cannot access .../epoch_*.pth``)."""
    repo = tmp_path / 'repo'
    (repo / 'tools').mkdir(parents=True)
    with open(osp.join(REPO, 'tools', 'quickstart.sh')) as f:
        (repo / 'tools' / 'quickstart.sh').write_text(f.read())
    (repo / 'tools' / 'setup_env.sh').write_text('exit 0\n')
    os.symlink(osp.join(REPO, 'configs'), repo / 'configs')
    env = dict(
        os.environ,
        QUICKSTART_CFG_OPTIONS=options,
        STMIXER_VENV=osp.dirname(osp.dirname(sys.executable)),
        OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', str(repo / 'tools' / 'quickstart.sh')],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('quickstart: ') and expected in last, last
    assert 'generating' not in proc.stdout
    assert sorted(os.listdir(repo)) == ['configs', 'tools']


def _messages(tree):
    """``(line, text)`` of each string of ``tree`` but its docstrings (an
    f-string's parts joined, ``{}`` for each value)."""
    skip, parts = set(), set()
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.JoinedStr):
            parts.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in parts:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            yield node.lineno, ''.join(
                v.value if isinstance(v, ast.Constant) else '{}'
                for v in node.values)


def test_messages_name_the_commands_a_pip_user_has():
    """Issue 97: a message (error, warning, log, help) that names a
    checkout script with a console command (``tools/train.py``) names the
    console command too (``stmixer-train``). The quick-start table runs a
    checkout's scripts and says so."""
    from stmixer_mm.apps.cli.commands import TOOLS
    scripts = {path: console for console, path in TOOLS.values()}
    offenders = []
    for path in sorted(Path(REPO, 'stmixer_mm').rglob('*.py')):
        if 'configs' in path.parts or path.name in ('commands.py',
                                                    'quickstart_table.py'):
            continue
        for line, text in _messages(ast.parse(path.read_text())):
            offenders += [
                f'{osp.relpath(path, REPO)}:{line}: {script}'
                for script, console in scripts.items()
                if script in text and console not in text
            ]
    assert offenders == []
    tree = ast.parse('"""tools/train.py"""\nx = f"{a} tools/test.py"\n')
    assert [t for _, t in _messages(tree)] == ['{} tools/test.py']
