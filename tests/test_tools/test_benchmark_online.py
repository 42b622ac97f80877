"""tools/analysis_tools/benchmark_online.py as a user runs it, shrunk: the
model alone and the online path on a short video, each in its own process,
with the numbers in the JSON it writes."""
import json

import numpy as np
import pytest

from stmixer_mm.apis.video_io import VideoWriter


@pytest.mark.slow  # two measuring processes
def test_model_and_online_rows(tools, tmp_path):
    video = str(tmp_path / 'clip.mp4')
    rng = np.random.default_rng(0)
    with VideoWriter(video, 25, codec='mp4v') as writer:
        for _ in range(40):
            writer.write(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    out = tmp_path / 'bench.json'
    tools.python_tool('analysis_tools/benchmark_online.py', '--models',
                      'quickstart', '--modes', 'model', 'online',
                      '--quickstart-config', tools.TINY_CFG, '--video', video,
                      '--model-clips', '2', '--stride', '8', '--threads', '1',
                      '--device', 'cpu', '--out', str(out))
    summary = json.loads(out.read_text())
    model, online = summary['results']
    assert (model['mode'], online['mode']) == ('model', 'online')
    assert model['device'] == online['device'] == 'cpu'
    assert 'peak_gpu_mib' not in model
    assert model['model_clips_per_s'] > 0 and model['clips'] == 2
    assert online['frames_read'] == online['frames_written'] == 40
    # keyframes every 8 frames, every one detected (not realtime)
    assert online['keyframes_done'] == 5 and online['keyframes_skipped'] == 0
    assert online['e2e_fps'] > 0 and online['lag_max'] >= online['lag_median']
    assert all(r['peak_rss_mib'] > 0 for r in (model, online))
