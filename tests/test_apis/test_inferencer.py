"""``STMixerInferencer``: mmengine's Inferencer interface over videos."""
import glob
import json
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch

from stmixer_mm.apis import (STMixerInferencer, clip_indices,
                             inference_detector, init_detector)
from stmixer_mm.apis.video_io import VideoReadError


@pytest.fixture(scope='module')
def inferencer(tools, random_checkpoint):
    return STMixerInferencer(tools.TINY_CFG, random_checkpoint)


@pytest.fixture(scope='module')
def frames(tools):
    files = sorted(
        glob.glob(
            osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000', '*.jpg')))
    assert len(files) == 24
    return [cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB) for f in files]


def _frame_dir(tools):
    return osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')


def test_predictions_are_inference_detector_on_the_sampled_clips(
        inferencer, frames, tools):
    """Each keyframe's persons are what ``inference_detector`` gives on the
    clip ``clip_indices`` samples around it (boxes scaled to pixels), on
    the keyframes ``stride // 2, stride // 2 + stride, ...``."""
    out = inferencer(_frame_dir(tools), stride=5, score_thr=0.0, topk=2)
    assert out['visualization'] is None
    (pred, ) = out['predictions']
    assert pred['input'] == 'syn_val_000' and pred['frame_size'] == [64, 64]
    assert pred['num_frames'] == 24 and pred['fps'] == 30.0
    assert pred['person_threshold'] == 0.6
    keys = [k['frame'] for k in pred['keyframes']]
    assert keys == list(range(2, 24, 5))
    model = inferencer.model
    names = inferencer.label_names
    for k in pred['keyframes']:
        clip = [frames[i] for i in clip_indices(k['frame'], 4, 2, 24)]
        want = inference_detector(model, clip).pred_instances
        assert k['time'] == pytest.approx(k['frame'] / 30, abs=1e-3)
        assert len(k['persons']) == len(want)
        boxes = want.bboxes.numpy() * 64
        for p, box, person, scores in zip(k['persons'], boxes,
                                          want.person_scores.numpy(),
                                          want.scores.numpy()):
            np.testing.assert_allclose(p['bbox'], box, atol=0.051)
            assert p['person_score'] == pytest.approx(person, abs=1e-4)
            best = np.argsort(-scores)[:2]
            assert list(p['actions']) == [names[int(c)] for c in best]
            assert list(p['actions'].values()) == pytest.approx(
                scores[best], abs=1e-4)


def test_one_video_in_any_form_gives_the_same_predictions(
        inferencer, frames, tools, tmp_path):
    """A frame folder, a list of frames, a [T, H, W, 3] array and an mp4
    of lossless-enough frames are one video each; a list of videos and a
    folder of videos give one prediction per video."""
    by_folder = inferencer(_frame_dir(tools), stride=8)['predictions'][0]
    by_list = inferencer(frames, stride=8)['predictions'][0]
    by_array = inferencer(np.stack(frames), stride=8)['predictions'][0]
    assert by_list['keyframes'] == by_folder['keyframes']
    assert by_array['keyframes'] == by_folder['keyframes']
    assert by_list['input'] == 'array' and by_list['num_frames'] == 24

    two = inferencer([frames, np.stack(frames[:10])], stride=8)
    assert len(two['predictions']) == 2
    assert two['predictions'][0]['keyframes'] == by_folder['keyframes']
    assert [k['frame'] for k in two['predictions'][1]['keyframes']] == [4]

    videos = tmp_path / 'videos'
    videos.mkdir()
    for name, n in (('b', 12), ('a', 24)):
        writer = cv2.VideoWriter(
            str(videos / f'{name}.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 8,
            (64, 64))
        for f in frames[:n]:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
    out = inferencer(str(videos), stride=8)['predictions']
    assert [p['input'] for p in out] == ['a', 'b']
    assert [p['num_frames'] for p in out] == [24, 12]
    assert out[0]['fps'] == pytest.approx(8)
    assert [k['frame'] for k in out[1]['keyframes']] == [4]


def test_a_video_shorter_than_the_first_keyframe_gets_its_last_frame(
        inferencer, frames):
    """As tools/demo.py: keyframe min(stride // 2, n - 1)."""
    pred = inferencer(frames[:3], stride=16)['predictions'][0]
    assert [k['frame'] for k in pred['keyframes']] == [2]
    clip = [frames[i] for i in clip_indices(2, 4, 2, 3)]
    want = inference_detector(inferencer.model, clip).pred_instances
    assert len(pred['keyframes'][0]['persons']) == len(want)


def test_visualization_and_datasamples(inferencer, frames):
    out = inferencer(
        frames, stride=8, return_vis=True, return_datasamples=True)
    (samples, ) = out['predictions']
    (drawn, ) = out['visualization']
    assert len(samples) == len(drawn) == 3
    assert [s.frame for s in samples] == [4, 12, 20]
    assert samples[0].pred_instances.bboxes.shape[1] == 4
    # 64x64 frames are scaled up to a 360-pixel short side, drawn as the
    # demo draws its videos (draw_tracks: labels on the frame)
    assert all(d.shape == (360, 360, 3) and d.dtype == np.uint8 for d in drawn)


def test_bad_arguments_and_inputs_are_named(inferencer, frames, tmp_path):
    with pytest.raises(ValueError, match='unknown argument'):
        inferencer(frames, strides=4)
    with pytest.raises(
            ValueError, match='STMixerInferencer: batch_size must be an int'):
        inferencer(frames, batch_size=0)
    with pytest.raises(
            ValueError, match='STMixerInferencer: stride must be an int >= 1'):
        inferencer(frames, stride=0)
    with pytest.raises(ValueError, match='expected uint8'):
        inferencer([f.astype(np.float32) / 255 for f in frames], stride=8)
    with pytest.raises(VideoReadError, match='no such video file'):
        inferencer(str(tmp_path / 'missing.mp4'))
    with pytest.raises(VideoReadError, match=r'\[T, H, W, 3\]'):
        inferencer(np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(TypeError, match='inputs must be'):
        inferencer(3.5)


def test_the_label_map_is_checked_before_any_frame_is_read(
        tools, random_checkpoint, tmp_path, monkeypatch):
    """A label map that does not fit stops __init__, so no video is ever
    opened with wrong names."""
    src = osp.join(tools.TINY_DATA, 'annotations', 'label_map.pbtxt')
    bad = tmp_path / 'zero.pbtxt'
    bad.write_text(open(src).read().replace('label_id: 1\n', 'label_id: 0\n'))
    opened = []
    import stmixer_mm.apis.inferencers.stmixer_inferencer as mod
    monkeypatch.setattr(mod, 'open_video', lambda *a, **k: opened.append(a))
    with pytest.raises(ValueError, match='does not fit the model'):
        STMixerInferencer(
            tools.TINY_CFG, random_checkpoint, label_map=str(bad))
    assert opened == []
    good = tmp_path / 'good.pbtxt'
    shutil.copy(src, good)
    inf = STMixerInferencer(
        tools.TINY_CFG, random_checkpoint, label_map=str(good), person_thr=0.0)
    assert inf.person_thr == 0.0 and inf.label_names[1] == 'stand'


def test_a_built_model_can_be_wrapped(tools, random_checkpoint, frames):
    model = init_detector(tools.TINY_CFG, random_checkpoint)
    inf = STMixerInferencer(model)
    assert inf.model is model
    res = inf.predict_clip(frames[:4], frame=1, time=0.5)
    assert res.frame == 1 and res.time == 0.5
    want = inference_detector(model, frames[:4]).pred_instances
    torch.testing.assert_close(
        torch.from_numpy(res.bboxes), want.bboxes * 64, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match='when the model is built'):
        STMixerInferencer(model, weights=random_checkpoint)


def test_show_progress_ticks_once_per_keyframe(tools, random_checkpoint,
                                               capsys):
    """show_progress: the project's one progress bar over the keyframes,
    their number known from the source (24 frames, stride 8: 3)."""
    inferencer = STMixerInferencer(
        tools.TINY_CFG, random_checkpoint, show_progress=True)
    results = list(inferencer.iter_results(_frame_dir(tools), stride=8))
    err = capsys.readouterr().err
    assert len(results) == 3
    assert 'syn_val_000' in err and '3/3' in err


def test_keyframe_result_masks_and_records():
    """A model with a mask head: the result's masks at the frame's size,
    and a COCO RLE of the frame per person in the JSON and drawing records;
    without masks the records are as before."""
    import types

    from mmengine.structures import InstanceData

    from stmixer_mm.apis.results import KeyframeResult, ResultFormatter
    from stmixer_mm.utils.coco_rle import decode_mask
    masks = torch.zeros(1, 64, 96, dtype=torch.bool)
    masks[0, 10:30, 20:40] = True  # the model's input size
    sample = types.SimpleNamespace(
        pred_instances=InstanceData(
            bboxes=torch.tensor([[0.2, 0.15, 0.45, 0.5]]),
            scores=torch.zeros(1, 3),
            person_scores=torch.ones(1),
            masks=masks))
    res = KeyframeResult(4, 0.25, np.array([[38., 19., 86., 64.]]),
                         np.zeros((1, 3)), np.ones(1), sample, (128, 192))
    assert res.masks.shape == (1, 128, 192)
    assert res.masks[0, 20:60, 40:80].all() and res.masks.sum() == 1600
    fmt = ResultFormatter({})
    record = fmt.record(res)
    np.testing.assert_array_equal(
        decode_mask(record['persons'][0]['mask']), res.masks[0])
    drawn = fmt.persons(res)
    assert decode_mask(drawn[0]['mask']).shape == (128, 192)
    del sample.pred_instances.masks
    res = KeyframeResult(4, 0.25, np.array([[38., 19., 86., 64.]]),
                         np.zeros((1, 3)), np.ones(1), sample, (128, 192))
    assert res.masks is None and res.mask_rles is None
    assert 'mask' not in fmt.record(res)['persons'][0]


def test_a_person_thr_that_removes_every_person_is_reported(
        tools, random_checkpoint, tmp_path):
    """Issue 59: the Inferencer writes the persons of the one policy
    (``ResultFormatter.keep``): a model that returns its 3 best queries
    below ``person_threshold`` (built with the fallback queries) has them
    removed, from the JSON, the drawing and the data samples alike, and a
    video with no person left says that person_thr removed all 18 (3 on
    each of 6 keyframes)."""
    model = init_detector(
        tools.TINY_CFG,
        random_checkpoint,
        fallback_queries=True,
        cfg_options={'model.test_cfg.rcnn.person_threshold': 0.99})
    infer = STMixerInferencer(model)
    assert infer.person_thr == 0.99
    assert len(infer.predict_clip(np.zeros((4, 64, 64, 3), np.uint8))) == 3
    with pytest.warns(
            UserWarning,
            match='syn_val_000: 0 persons on 6 keyframes: person_thr=0.99 '
            'removed all 18 persons the model returned'):
        out = infer(
            _frame_dir(tools),
            stride=4,
            score_thr=0.0,
            return_datasamples=True,
            pred_out_dir=str(tmp_path))
    assert [len(s.pred_instances) for s in out['predictions'][0]] == [0] * 6
    with open(tmp_path / 'syn_val_000.json') as f:
        pred = json.load(f)
    assert [k['persons'] for k in pred['keyframes']] == [[]] * 6


@pytest.mark.parametrize('name', ['score_thr', 'pred_score_thr'])
@pytest.mark.parametrize('value', [1.5, -0.1, float('nan'), 'high'])
def test_thresholds_outside_zero_one_are_refused(inferencer, frames, tmp_path,
                                                 name, value):
    """A threshold above 1 kept no action of 60 persons (exit 0, an empty
    result); every ``*_thr`` argument is checked where it is read, naming
    it, before a frame is read or a file written."""
    with pytest.raises(
            ValueError,
            match=rf'STMixerInferencer: {name} must be a number '
            r'in \[0, 1\]'):
        inferencer(np.stack(frames), out_dir=str(tmp_path), **{name: value})
    assert not list(tmp_path.iterdir())


def test_person_thr_outside_zero_one_is_refused(tools, random_checkpoint):
    with pytest.raises(ValueError, match='STMixerInferencer: person_thr'):
        STMixerInferencer(tools.TINY_CFG, random_checkpoint, person_thr=1.5)


def test_online_runner_score_thr_is_checked(inferencer, tmp_path):
    from stmixer_mm.apps.online import OnlineRunner
    with pytest.raises(ValueError, match='OnlineRunner: score_thr'):
        OnlineRunner(inferencer, out_dir=str(tmp_path), score_thr=1.5)
    assert not list(tmp_path.iterdir())
