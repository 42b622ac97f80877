"""``tools/analysis_tools/benchmark_data_pipeline.py`` as a user runs it:
an official config's training dataloader over the synthetic rawframes,
and the reading of its rows against the training step's rate."""
import importlib.util
import json
from pathlib import Path

import pytest

from stmixer_mm.testing import repo_root

REPO = Path(repo_root())
TOOL = REPO / 'tools/analysis_tools/benchmark_data_pipeline.py'
SF = ('configs/stmixer/'
      'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('bench_data', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_official_pipeline_rows(tools, tmp_path):
    out_json = tmp_path / 'rows.json'
    out = tools.python_tool('analysis_tools/benchmark_data_pipeline.py',
                            str(REPO / SF), '--frame-size', '96', '64',
                            '--videos', '1', '--seconds', '3', '--workers',
                            '0', '1', '--batches', '2', '--warmup-batches',
                            '0', '--work-dir', str(tmp_path / 'data'),
                            '--json', str(out_json)).stdout
    assert '| data alone | 1 | 2 |' in out
    rows = json.loads(out_json.read_text())['rows']
    assert [r['workers'] for r in rows] == [0, 1]
    for r in rows:
        c, t, h, w = r['clip_shape']
        # the official pipeline: 32 frames, short side jittered in [256, 320]
        assert (c, t) == (3, 32) and 256 <= min(h, w) <= 320, r
        assert r['clips'] == 4 and r['clips_per_s'] > 0
    assert len(list((tmp_path / 'data/rawframes').glob('*/img_*.jpg'))) > 0


@pytest.mark.slow
def test_loop_and_step_alone_on_the_same_batches(tools, tmp_path):
    """``--train`` on the CPU with the tiny config: a loop row with the
    step alone timed over the batches the loop consumed."""
    out_json = tmp_path / 'rows.json'
    out = tools.python_tool('analysis_tools/benchmark_data_pipeline.py',
                            tools.TINY_CFG, '--frame-size', '64', '64',
                            '--videos', '1', '--seconds', '3', '--workers',
                            '1', '--batches', '2', '--warmup-batches', '1',
                            '--train', '--work-dir', str(tmp_path / 'data'),
                            '--json', str(out_json)).stdout
    data, loop = json.loads(out_json.read_text())['rows']
    assert 'step_alone_clips_per_s' not in data
    assert loop['amp'] == 'none' and loop['workers'] == 1
    assert loop['clips'] == 2 * loop['batch']
    assert loop['step_alone_clips_per_s'] > 0 and loop['clips_per_s'] > 0
    assert '| loop (fp32) | 1 |' in out


def test_report_names_the_bound():
    mod = load_tool()
    rows = [
        dict(name='a', workers=8, batch=2, clips_per_s=12.0, start_s=1.0),
        dict(name='a', workers=16, batch=2, clips_per_s=40.0, start_s=1.0),
        dict(name='a', workers=16, batch=2, clips_per_s=9.0, start_s=1.0,
             amp='none', step_alone_clips_per_s=10.0),
        dict(name='a', workers=16, batch=2, clips_per_s=15.5, start_s=1.0,
             amp='bf16', step_alone_clips_per_s=16.0),
    ]
    lines = mod.report(rows, 'dev').splitlines()
    # data alone against the fastest step alone (bf16, 16 clips/s)
    assert lines[4].endswith('| 16.00 | 0.75x | data |'), lines[4]
    assert lines[5].endswith('| 16.00 | 2.50x | step |'), lines[5]
    # a loop at 90 % of the step on its batches: held back; at 97 %: not
    assert '| loop (fp32) |' in lines[6]
    assert lines[6].endswith('| 10.00 | 0.90x | data |'), lines[6]
    assert lines[7].endswith('| 16.00 | 0.97x | step |'), lines[7]


@pytest.mark.parametrize('args, msg', [
    (['--workers', '-1'], '--workers must be >= 0'),
    (['--frame-size', '8', '64'], '--frame-size must be at least'),
    (['--batches', '0'], '--batches must be >= 1'),
])
def test_bad_arguments(args, msg, capsys):
    mod = load_tool()
    with pytest.raises(SystemExit):
        mod.parse_args([SF, '--work-dir', 'x', *args])
    assert msg in capsys.readouterr().err
