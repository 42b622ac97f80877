"""``STMixerInferencer`` with mmdet ``DetInferencer``'s arguments: saving
(``out_dir``, ``pred_out_dir``, ``vid_out_dir``, ``no_save_vis``,
``no_save_pred``), drawing (``draw_pred``, ``pred_score_thr``,
``return_vis``), ``print_result``, ``batch_size`` > 1 and metafile model
names in place of a config path."""
import glob
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from stmixer_mm.apis import STMixerInferencer, resolve_model_name
from stmixer_mm.apps.data_gen.synthetic_ava import count_video_frames

QUICKSTART = 'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb'


@pytest.fixture(scope='module')
def inferencer(tools, random_checkpoint):
    return STMixerInferencer(tools.TINY_CFG, random_checkpoint)


@pytest.fixture(scope='module')
def frame_dir(tools):
    return osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')


def _all_close(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.frame == y.frame
        for k in ('bboxes', 'scores', 'person_scores'):
            np.testing.assert_allclose(
                getattr(x, k), getattr(y, k), rtol=1e-5, atol=1e-5)


def test_batches_give_the_results_of_one_clip_at_a_time(inferencer, frame_dir):
    one = [r for r, _ in inferencer.iter_results(frame_dir, stride=3, fps=8)]
    assert len(one) == 8
    for batch_size in (2, 3, 8):
        many = [
            r for r, _ in inferencer.iter_results(
                frame_dir, stride=3, fps=8, batch_size=batch_size)
        ]
        _all_close(one, many)
    a = inferencer(frame_dir, stride=3, fps=8)['predictions'][0]
    b = inferencer(frame_dir, stride=3, fps=8, batch_size=3)['predictions'][0]
    assert a['keyframes'] == b['keyframes']


def test_batches_are_refused_for_a_model_with_track_queries(inferencer):
    model = inferencer.model
    model.reset_tracks = lambda: None  # what a track model has
    try:
        with pytest.raises(ValueError, match='carries its tracks'):
            list(
                inferencer.iter_results(
                    np.zeros((8, 32, 32, 3), np.uint8), batch_size=2))
    finally:
        del model.reset_tracks


def test_out_dir_saves_what_det_inferencer_saves(inferencer, frame_dir,
                                                 tmp_path):
    """``out_dir``: the drawn keyframes in ``vis/<name>.mp4``; the
    predictions in ``preds/<name>.json`` only with ``no_save_pred=False``
    (DetInferencer's default is True)."""
    out = str(tmp_path / 'out')
    res = inferencer(frame_dir, stride=4, fps=8, out_dir=out)
    assert os.listdir(out) == ['vis']
    video = osp.join(out, 'vis', 'syn_val_000.mp4')
    assert count_video_frames(video) == 6  # one frame per keyframe
    cap = cv2.VideoCapture(video)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(2.0)  # 8 fps / 4
    cap.release()
    assert isinstance(res['predictions'][0], dict)

    out2 = str(tmp_path / 'out2')
    res = inferencer(
        frame_dir,
        stride=4,
        fps=8,
        out_dir=out2,
        no_save_pred=False,
        no_save_vis=True,
        score_thr=0.0)
    assert os.listdir(out2) == ['preds']
    with open(osp.join(out2, 'preds', 'syn_val_000.json')) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(res['predictions'][0]))
    assert [k['frame'] for k in saved['keyframes']] == [2, 6, 10, 14, 18, 22]
    assert saved['num_frames'] == 24 and saved['frame_size'] == [64, 64]


def test_pred_out_dir_one_json_per_video_and_never_overwritten(
        inferencer, frames_list, tmp_path):
    preds = str(tmp_path / 'preds')
    arrays = [np.stack(frames_list[:12]), np.stack(frames_list[12:])]
    res = inferencer(
        arrays, stride=4, fps=8, pred_out_dir=preds, return_datasamples=True)
    assert sorted(os.listdir(preds)) == ['video_0.json', 'video_1.json']
    # the JSON is written also where data samples are returned
    assert all(isinstance(p, list) for p in res['predictions'])
    with open(osp.join(preds, 'video_1.json')) as f:
        assert [k['frame'] for k in json.load(f)['keyframes']] == [2, 6, 10]
    before = open(osp.join(preds, 'video_0.json')).read()
    with pytest.raises(OSError, match='video_0.json'):
        inferencer(arrays, stride=4, fps=8, pred_out_dir=preds)
    assert open(osp.join(preds, 'video_0.json')).read() == before
    # vid_out_dir: the drawn keyframes, also refused where they exist
    vids = str(tmp_path / 'vids')
    inferencer(arrays[0], stride=4, fps=8, vid_out_dir=vids)
    assert os.listdir(vids) == ['video_0.mp4']
    with pytest.raises(OSError, match='video_0.mp4'):
        inferencer(arrays[0], stride=4, fps=8, vid_out_dir=vids)


@pytest.fixture(scope='module')
def frames_list(frame_dir):
    files = sorted(glob.glob(osp.join(frame_dir, '*.jpg')))
    return [cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB) for f in files]


def test_draw_pred_pred_score_thr_and_print_result(inferencer, frames_list,
                                                   capsys):
    video = np.stack(frames_list[:8])
    drawn = inferencer(
        video, stride=4, fps=8, return_vis=True,
        pred_score_thr=0.0)['visualization'][0]
    bare = inferencer(
        video, stride=4, fps=8, return_vis=True,
        draw_pred=False)['visualization'][0]
    assert len(drawn) == len(bare) == 2
    assert drawn[0].shape == bare[0].shape == (360, 360, 3)
    assert not np.array_equal(drawn[0], bare[0])  # boxes drawn
    # without predictions only the header is drawn on the scaled frame
    plain = cv2.resize(video[2], (360, 360), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(bare[0][60:], plain[60:])
    capsys.readouterr()
    out = inferencer(video, stride=4, fps=8, print_result=True)
    printed = capsys.readouterr().out
    assert str(out['predictions'][0]) in printed


def test_a_metafile_name_in_place_of_a_config(tmp_path, tools):
    # the quick start's data set is not on disk: the fixture's label map
    # (the same synthetic AVA classes) names the columns
    label_map = osp.join(tools.TINY_DATA, 'annotations', 'label_map.pbtxt')
    cfg, weights = resolve_model_name(QUICKSTART.upper())
    assert cfg.endswith(f'configs/quickstart/{QUICKSTART}.py')
    assert osp.isfile(cfg)
    with pytest.raises(ValueError) as e:
        resolve_model_name('stmixer_r3d-tiny_synthetic-ava')
    assert QUICKSTART in str(e.value) and 'close names' in str(e.value)
    with pytest.raises(ValueError, match='neither a config file nor'):
        STMixerInferencer('no-such-model-at-all-xyz')
    if weights is None:
        # no weights in the metafile: random weights, with a warning
        torch.manual_seed(0)
        with pytest.warns(UserWarning, match='random weights'):
            inf = STMixerInferencer(QUICKSTART, label_map=label_map)
        assert inf.cfg.filename == cfg
    # given weights win over the metafile's (a checkpoint of that model)
    from stmixer_mm.apis import init_detector
    model = init_detector(cfg)
    ckpt = str(tmp_path / 'q.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    inf = STMixerInferencer(QUICKSTART, ckpt, label_map=label_map)
    for k, v in model.state_dict().items():
        assert torch.equal(inf.model.state_dict()[k], v)


def test_videos_sharing_a_name_get_apart_outputs(inferencer, frame_dir,
                                                 tmp_path):
    import shutil
    for sub in ('a', 'b'):
        shutil.copytree(frame_dir, tmp_path / sub / 'clip')
    preds = str(tmp_path / 'preds')
    inferencer([str(tmp_path / 'a' / 'clip'),
                str(tmp_path / 'b' / 'clip')],
               stride=8,
               fps=8,
               pred_out_dir=preds)
    assert sorted(os.listdir(preds)) == ['clip_0.json', 'clip_1.json']
    # names compared ignoring case; arrays are video_<i>
    assert STMixerInferencer.output_names([
        str(tmp_path / 'a' / 'clip'),
        str(tmp_path / 'b' / 'CLIP'),
        np.zeros(1)
    ]) == ['clip_0', 'CLIP_1', 'video_2']
