"""``tools/analysis_tools/benchmark_data_pipeline.py`` as a user runs it:
an official config's training dataloader over the synthetic rawframes,
and the loop read against the step alone on the same batches."""
import json
from pathlib import Path

import pytest

from stmixer_mm.testing import repo_root

REPO = Path(repo_root())
SF = ('configs/stmixer/'
      'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py')


@pytest.mark.slow
def test_official_pipeline_rows(tools, tmp_path):
    out_json = tmp_path / 'rows.json'
    out = tools.python_tool('analysis_tools/benchmark_data_pipeline.py',
                            str(REPO / SF), '--frame-size', '96', '64',
                            '--videos', '1', '--seconds', '3', '--workers',
                            '0', '1', '--batches', '2',
                            '--warmup-batches', '0', '--work-dir',
                            str(tmp_path / 'data'), '--json',
                            str(out_json)).stdout
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
                            '1', '--batches', '2',
                            '--warmup-batches', '1', '--train', '--work-dir',
                            str(tmp_path / 'data'), '--json',
                            str(out_json)).stdout
    data, loop = json.loads(out_json.read_text())['rows']
    assert 'step_alone_clips_per_s' not in data
    assert loop['amp'] == 'none' and loop['workers'] == 1
    assert loop['clips'] == 2 * loop['batch']
    assert loop['step_alone_clips_per_s'] > 0 and loop['clips_per_s'] > 0
    assert loop['steps'] is None  # no graph_train_cfg in the tiny config
    assert '| loop (fp32) | 1 |' in out
    # the loop read against the step alone on its own batches
    ratio = loop['clips_per_s'] / loop['step_alone_clips_per_s']
    bound = 'step' if ratio >= 0.95 else 'data'
    assert f'| {ratio:.2f}x | {bound} |' in out, out


@pytest.mark.parametrize('args, msg', [
    (['--workers', '-1'], '--workers must be >= 0'),
    (['--frame-size', '8', '64'], '--frame-size must be at least'),
    (['--batches', '0'], '--batches must be >= 1'),
])
def test_bad_arguments(args, msg, tools, tmp_path):
    proc = tools.python_tool(
        'analysis_tools/benchmark_data_pipeline.py',
        str(REPO / SF),
        '--work-dir',
        str(tmp_path / 'x'),
        *args,
        check=False)
    assert proc.returncode == 2 and msg in proc.stderr, proc.stderr
    assert not (tmp_path / 'x').exists()  # refused before any work
