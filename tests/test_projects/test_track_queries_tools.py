"""projects/track_queries through the user's entry points: tools/train.py
and tools/test.py on AVA-format data (its config imports the project with
custom_imports), and the online runner, whose ids are the model's own."""
import json
import os.path as osp

import numpy as np

from stmixer_mm.apis import STMixerInferencer
from stmixer_mm.apis.video_io import ArraySource
from stmixer_mm.apps.benchmarks.tubes import load_predictions
from stmixer_mm.apps.online import OnlineRunner
from stmixer_mm.testing import TRACK_CFG


def _jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_track_queries_train_and_test_through_the_tools(tools, tmp_path):
    """STMixerTracker on AVA-format data through tools/train.py (sequences
    of keyframes from TrackSequenceSampler, person ids from the csv) and
    tools/test.py (AVAMetric; every detection with a track id)."""
    cfg = osp.join(tools.REPO, TRACK_CFG)
    work = tmp_path / 'work'
    proc = tools.python_tool('train.py', cfg, '--work-dir', str(work),
                             '--cfg-options', 'train_cfg.max_epochs=1')
    log = proc.stdout + proc.stderr
    assert 's1.loss_person' in log
    dump = tmp_path / 'preds.pkl'
    proc = tools.python_tool('test.py', cfg, str(work / 'epoch_1.pth'),
                             '--work-dir', str(tmp_path / 'test'), '--dump',
                             str(dump))
    value = tools.metric(proc.stdout + proc.stderr, 'mAP/overall')
    assert 0.0 <= value <= 1.0
    preds = load_predictions(str(dump))
    assert len(preds) == 4
    for p in preds:
        inst = p['pred_instances']
        assert len(inst['track_ids']) == len(inst['bboxes']) >= 1
    # ids are per video and new ids count up from 1 in each video
    for video in {p['video_id'] for p in preds}:
        first = min((p for p in preds if p['video_id'] == video),
                    key=lambda p: p['timestamp'])
        assert 1 in first['pred_instances']['track_ids'].tolist()


def test_a_model_with_track_queries_gives_the_ids(tools, tmp_path):
    """With STMixerTracker (track queries) the online ids are the model's
    own: the JSON lines carry exactly the track ids the model output at
    each keyframe, the model getting the source's name and increasing
    keyframes."""
    cfg = osp.join(
        tools.REPO, 'projects', 'track_queries', 'configs',
        'stmixer-track_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-'
        'rgb.py')
    inf = STMixerInferencer(cfg, None)
    head = inf.model.roi_head.stages[-1].fc_person_cls
    head.weight.data.zero_()
    head.bias.data = head.bias.new_tensor([5.0, 0.0])  # all persons
    seen = []
    predict = inf.predict_clip

    def spy(clip, frame, time_, video=None):
        res = predict(clip, frame, time_, video=video)
        seen.append((video, frame, res.track_ids.tolist()))
        return res

    inf.predict_clip = spy
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (40, 64, 96, 3), np.uint8)
    runner = OnlineRunner(
        inf,
        stride=8,
        out_dir=str(tmp_path),
        write_video=False,
        progress=False)
    stats = runner.run(ArraySource(list(frames), name='cam', fps=16))
    header, *lines = _jsonl(stats['jsonl'])  # the result format's header
    assert header['format_version'] == 'stmixer_mm-result/1'
    assert len(lines) == len(seen) >= 4
    assert {v for v, _, _ in seen} == {'cam'}
    for line, (_, frame, ids) in zip(lines, seen):
        assert line['frame'] == frame
        assert [p['track_id'] for p in line['persons']] == ids
    # the tracks of the first keyframe are carried to the second
    assert seen[0][2] and seen[1][2][:len(seen[0][2])] == seen[0][2]
    # running the source again starts afresh (no out-of-order error); into
    # another folder, the outputs of the first run are not overwritten
    seen.clear()
    runner.out_dir = str(tmp_path / 'again')
    runner.run(ArraySource(list(frames), name='cam', fps=16))
    assert seen[0][2][0] == 1


# ------------------------------------------------------------- outputs
