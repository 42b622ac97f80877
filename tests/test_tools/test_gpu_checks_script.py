"""``tools/gpu/run_gpu_checks.sh`` on the CPU: the names its embedded
Python imports from ``stmixer_mm`` and the scripts and configs it runs
exist (a renamed function cost one device call of issue 63)."""
import importlib
import os.path as osp
import re

import pytest

from stmixer_mm.testing import repo_root

SCRIPT = osp.join(repo_root(), 'tools', 'gpu', 'run_gpu_checks.sh')


def _text():
    with open(SCRIPT) as f:
        return f.read()


@pytest.mark.parametrize(
    'module, names',
    sorted(
        set(
            re.findall(r'^from (stmixer_mm[\w.]*) import ([\w, ]+)$', _text(),
                       re.M))))
def test_embedded_imports_resolve(module, names):
    mod = importlib.import_module(module)
    for name in names.split(','):
        assert hasattr(mod, name.strip()), f'{module}.{name.strip()}'


def test_scripts_and_configs_exist():
    text = _text()
    paths = set(
        re.findall(
            r'(?<![\w/])((?:tests/data/)?(?:tools|configs)/[\w./-]+'
            r'\.(?:py|sh))', text))
    assert len(paths) >= 8
    missing = [p for p in paths if not osp.exists(osp.join(repo_root(), p))]
    assert not missing


@pytest.mark.slow  # (their file first: a long test at the end holds a worker)
@pytest.mark.parametrize('stage, names', [
    ('replay', ('sf_eager', 'sf_official', 'sf_replayed')),
    ('replay2',
     ('vit_eager', 'vit_official', 'vit_replayed', 'sf_bf16_replayed')),
])
def test_the_replay_stages_dry_run_on_the_cpu(tmp_path, stage, names):
    """``STMIXER_GPU_DRY_RUN=1 bash tools/gpu/run_gpu_checks.sh STAGE``:
    every job of a replay stage (the first: SlowFast-R50's rows, the
    headline, then its CUDA tests, skipped here; the second: ViT-B's and
    bf16's rows; each row of tools/gpu/bench_train_step.py) runs on the CPU
    on the tiny config, in that order, each row's JSON written, the
    warm-up printed step by step, the table printed at the end."""
    import json
    import os
    import subprocess
    import sys
    env = dict(
        os.environ,
        STMIXER_GPU_DRY_RUN='1',
        STMIXER_GPU_PYTHON=sys.executable,
        STMIXER_GPU_OUT=str(tmp_path),
        OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', SCRIPT, stage],
                          cwd=repo_root(),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    started = re.findall(r'replay: (\w+) \(at most', proc.stdout)
    assert started == list(names) + ['tests'] * (stage == 'replay'), started
    if stage == 'replay':
        assert 'skipped' in (tmp_path / 'replay_tests.txt').read_text()
    for name in names:
        (row, ) = json.loads((tmp_path / f'replay_{name}.json').read_text())
        assert row['stack'] == ('official' if 'official' in name else 'ours')
        assert row['graph_train'] == ('replayed' in name)
        assert len(row['warmup_times']) == 2 * row['graph_train'], row
        if row['graph_train']:  # the first batch eager, then compiled
            assert row['steps']['compiled'] >= 1, row['steps']
            assert row['steps']['cudagraph_skips'] == 0
        assert 'warm-up steps' in (tmp_path / f'replay_{name}.txt').read_text()
    table = (tmp_path / f'replay_table_{stage}.md').read_text()
    assert table.count('\n| tiny_stmixer_tiny-ava') == len(names)
    assert 'peak reserved (MiB)' in table and 'graph breaks' in table
    if stage == 'replay':
        assert 'the official step' in table
        assert 'not measured' not in table
    else:  # (the official SlowFast-R50 row is the first stage's)
        assert 'not measured (time limit or failure): replay_sf_official' \
            '.json' in table
