"""``stmixer_mm.apis``: ``init_detector`` + ``inference_detector`` on clips
held in memory."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.apis import (build_clip_pipeline, clip_indices,
                             clip_sampling_from_cfg, inference_detector,
                             init_detector)
from stmixer_mm.registry import DATASETS


@pytest.fixture(scope='module')
def model(tools, random_checkpoint):
    return init_detector(tools.TINY_CFG, random_checkpoint)


def test_init_detector_loads_the_checkpoint(model, tools, random_checkpoint):
    assert not model.training and model.cfg.model.type == 'STMixer'
    assert next(model.parameters()).device.type == 'cpu'
    saved = torch.load(random_checkpoint, map_location='cpu')['state_dict']
    state = model.state_dict()
    assert saved.keys() == state.keys()
    for key, value in saved.items():
        assert torch.equal(state[key], value), key
    # without a checkpoint: other (freshly drawn) weights
    torch.manual_seed(1)
    fresh = init_detector(tools.TINY_CFG).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in saved.items()
               if v.is_floating_point())


def test_inference_structure_on_any_frame_size(tools, random_checkpoint):
    # with the config's fallback queries (as in the AVA evaluation)
    model = init_detector(
        tools.TINY_CFG, random_checkpoint, fallback_queries=True)
    rng = np.random.default_rng(0)
    h, w = 60, 100
    frames = [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(4)
    ]
    result = inference_detector(model, frames)
    pred = result.pred_instances
    n = len(pred)
    assert 1 <= n <= 10  # at most one per query; the fallback keeps >= 1
    assert pred.bboxes.shape == (n, 4) and pred.scores.shape == (n, 8)
    # boxes: normalised xyxy; scores: sigmoids, column 0 unused (0)
    assert pred.bboxes.min() >= 0 and pred.bboxes.max() <= 1
    assert (pred.bboxes[:, 2] >= pred.bboxes[:, 0]).all()
    assert (pred.bboxes[:, 3] >= pred.bboxes[:, 1]).all()
    assert (pred.scores[:, 0] == 0).all()
    assert pred.scores.min() >= 0 and pred.scores.max() <= 1
    # the test pipeline resized the short side to 64 (aspect kept)
    assert tuple(result.img_shape) == (64, 107)
    assert tuple(result.original_shape) == (h, w)


def test_inference_rejects_bad_clips(model):
    with pytest.raises(ValueError, match='expected 4 frames.*got 0'):
        inference_detector(model, [])
    frames = [np.zeros((64, 64, 3), np.uint8), np.zeros((64, 80, 3), np.uint8)]
    with pytest.raises(
            ValueError, match='frame 1 is 80x64 pixels.*frame 0 is 64x64'):
        inference_detector(model, frames * 2)
    with pytest.raises(ValueError, match='expected 4 frames.*got 2'):
        inference_detector(model, frames)
    with pytest.raises(ValueError, match='RGB'):
        inference_detector(model, [np.zeros((64, 64), np.uint8)] * 4)


def test_inference_matches_the_test_dataloader(model, tools):
    """The in-memory path gives what ``tools/test.py`` computes for the same
    keyframe: ``clip_indices`` picks SampleAVAFrames' frames and
    ``build_clip_pipeline`` keeps the rest of the test pipeline."""
    cfg = model.cfg
    init_default_scope('mmaction')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    data = dataset[0]
    with torch.no_grad():
        expected = model.test_step(pseudo_collate([data]))[0]

    info = dataset.get_data_info(0)
    files = sorted(glob.glob(osp.join(info['frame_dir'], '*.jpg')))
    # the keyframe's file is fps * (timestamp - timestamp_start) +
    # 2 * start_index; the folder starts at file start_index
    key = cfg.fps * (info['timestamp'] - cfg.timestamp_start) \
        + cfg.start_index
    assert clip_sampling_from_cfg(cfg) == (4, 2)
    inds = clip_indices(key, 4, 2, len(files))
    frames = [
        cv2.cvtColor(cv2.imread(files[i]), cv2.COLOR_BGR2RGB) for i in inds
    ]
    got = inference_detector(model, frames, build_clip_pipeline(cfg))
    torch.testing.assert_close(got.pred_instances.bboxes,
                               expected.pred_instances.bboxes)
    torch.testing.assert_close(got.pred_instances.scores,
                               expected.pred_instances.scores)


def test_clip_indices_clamp_to_the_video():
    assert clip_indices(10, 4, 2, 24).tolist() == [6, 8, 10, 12]
    assert clip_indices(1, 4, 2, 24).tolist() == [0, 0, 1, 3]
    assert clip_indices(23, 4, 2, 24).tolist() == [19, 21, 23, 23]


def test_build_clip_pipeline_drops_frame_loading(model):
    steps = [
        type(t).__name__ for t in build_clip_pipeline(model.cfg).transforms
    ]
    assert steps == ['Resize', 'FormatShape', 'PackActionInputs']
