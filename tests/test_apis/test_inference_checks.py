"""``init_detector`` / ``inference_detector`` refuse what would give wrong
detections: checkpoints that do not fit, clips of the wrong length, dtype or
with non-finite values; and return no fallback queries by default."""
import numpy as np
import pytest
import torch

import stmixer_mm  # noqa: F401
from stmixer_mm.apis import inference_detector, init_detector
from stmixer_mm.engine import CheckpointMismatchError


@pytest.fixture(scope='module')
def model(tools, random_checkpoint):
    return init_detector(tools.TINY_CFG, random_checkpoint)


def write_no_person_checkpoint(src: str, dst: str) -> str:
    """The random checkpoint with every stage's person classifier set to
    score about 0.0025 on any input: a model that sees nobody (the random
    one scores every query about 0.85)."""
    ckpt = torch.load(src, map_location='cpu')
    state = ckpt['state_dict']
    heads = [k for k in state if k.endswith('fc_person_cls.weight')]
    assert heads
    for key in heads:
        state[key] = torch.zeros_like(state[key])
        state[key.replace('weight', 'bias')] = torch.tensor([-3.0, 3.0])
    torch.save(ckpt, dst)
    return dst


@pytest.fixture(scope='module')
def no_person_checkpoint(random_checkpoint, tmp_path_factory):
    return write_no_person_checkpoint(
        random_checkpoint,
        str(tmp_path_factory.mktemp('no_person') / 'no_person.pth'))


def test_mismatched_checkpoint_is_an_error(tools, random_checkpoint):
    # another number of actions: the action heads do not fit
    with pytest.raises(CheckpointMismatchError) as info:
        init_detector(
            tools.TINY_CFG,
            random_checkpoint,
            cfg_options={'model.roi_head.stage_head.num_actions': 5})
    msg = str(info.value)
    assert random_checkpoint in msg and 'strict=False' in msg
    assert 'shape mismatch' in msg and 'fc_action.weight' in msg
    assert '[7, ' in msg and '[5, ' in msg  # both shapes are named
    # another backbone depth: missing and unexpected keys
    with pytest.raises(CheckpointMismatchError) as info:
        init_detector(
            tools.TINY_CFG,
            random_checkpoint,
            cfg_options={'model.backbone.depth': 34})
    assert 'missing in the checkpoint' in str(info.value)
    assert 'backbone.layer1.2.' in str(info.value)


@pytest.mark.parametrize('options, path, message', [
    ({
        'model.roi_head.compile_stages': 'yes'
    }, 'model.roi_head', 'compile_stages'),
    ({
        'model.roi_head.num_stages': 0
    }, 'model.roi_head', 'num_stages must be an int >= 1'),
])
def test_a_refused_setting_names_its_config_path(tools, options, path,
                                                 message):
    """The Python API names the part that refused a setting by its config
    path, as the commands do."""
    with pytest.raises(ValueError) as info:
        init_detector(tools.TINY_CFG, cfg_options=options)
    assert str(info.value).startswith(f'{path}: '), str(info.value)
    assert message in str(info.value)


def test_non_strict_loads_the_matching_part(tools, random_checkpoint):
    saved = torch.load(random_checkpoint, map_location='cpu')['state_dict']
    model = init_detector(
        tools.TINY_CFG,
        random_checkpoint,
        cfg_options={'model.roi_head.stage_head.num_actions': 5},
        strict=False)
    state = model.state_dict()
    key = 'backbone.conv1.conv.weight'
    assert torch.equal(state[key], saved[key])


def test_unexpected_keys_are_an_error(tools, random_checkpoint, tmp_path):
    ckpt = torch.load(random_checkpoint, map_location='cpu')
    ckpt['state_dict']['extra.weight'] = torch.zeros(1)
    path = tmp_path / 'extra.pth'
    torch.save(ckpt, path)
    with pytest.raises(CheckpointMismatchError, match='unexpected.*extra'):
        init_detector(tools.TINY_CFG, str(path))


def test_no_fallback_queries_by_default(tools, no_person_checkpoint, model):
    thr = model.cfg.model.test_cfg.rcnn.person_threshold
    frames = [np.zeros((64, 64, 3), np.uint8)] * 4  # an empty, black scene
    # the random model: persons everywhere, all of them above the threshold
    pred = inference_detector(model, frames).pred_instances
    assert len(pred) == 10 and (pred.person_scores >= thr).all()
    # a model that sees nobody returns nothing
    empty = init_detector(tools.TINY_CFG, no_person_checkpoint)
    assert empty.cfg.model.test_cfg.rcnn.num_fallback == 0
    pred = inference_detector(empty, frames).pred_instances
    assert len(pred) == 0
    assert pred.bboxes.shape == (0, 4) and pred.scores.shape == (0, 8)
    # the config's fallback (AVA evaluation) keeps 3 queries whatever they
    # score: what the demo reported on an all-black video before
    with_fallback = init_detector(
        tools.TINY_CFG, no_person_checkpoint, fallback_queries=True)
    assert with_fallback.cfg.model.test_cfg.rcnn.num_fallback == 3
    pred = inference_detector(with_fallback, frames).pred_instances
    assert len(pred) == 3 and (pred.person_scores < thr).all()


def test_frame_count_is_checked(model):
    frames = [np.zeros((64, 64, 3), np.uint8)] * 3
    with pytest.raises(ValueError, match='expected 4 frames.*got 3'):
        inference_detector(model, frames)
    with pytest.raises(ValueError, match='expected 4 frames.*got 0'):
        inference_detector(model, [])


def test_float_frames_are_refused_not_read_as_black(model):
    rng = np.random.default_rng(0)
    frames = [rng.random((64, 64, 3), dtype=np.float32) for _ in range(4)]
    with pytest.raises(
            ValueError,
            match=r'dtype float32 with values in \[1.9.*, 0.99.*\]; '
            'expected uint8'):
        inference_detector(model, frames)
    # the conversion the message proposes works
    inference_detector(model,
                       [(f * 255).round().astype(np.uint8) for f in frames])
    with pytest.raises(ValueError, match='dtype int64'):
        inference_detector(model, [np.zeros((64, 64, 3), np.int64)] * 4)


def test_non_finite_frames_are_refused(model):
    frames = [np.zeros((64, 64, 3), np.float32) for _ in range(4)]
    frames[2][0, 0, 0] = np.nan
    frames[3][1, 1, 1] = np.inf
    with pytest.raises(ValueError, match='frame 2 has non-finite values'):
        inference_detector(model, frames)
