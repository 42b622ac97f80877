"""The numpy post-processing of the ONNX path
(:func:`stmixer_mm.apps.deployment.postprocess_ava`) equals the model's own
(``STMixerBBoxHead.predict_by_feat``) on the same raw outputs (issue 47,
item 3): no ONNX Runtime between them, so any difference is in the two
post-processings, including their edge cases (scores exactly at the
threshold, no query above it, fallback wider than the queries, boxes
outside the frame, a sigmoid person classifier)."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from stmixer_mm.apps.deployment import postprocess_ava
from stmixer_mm.registry import MODELS


def _head(use_sigmoid):
    # the stage head is one of mmdet's models (an earlier test may have
    # left another default scope; conftest restores it after this test)
    init_default_scope('mmdet')
    loss_person = dict(type='FocalLoss', use_sigmoid=True) if use_sigmoid \
        else dict(type='CrossEntropyLoss', use_sigmoid=False,
                  class_weight=[1.0, 0.1])
    return MODELS.build(
        dict(
            type='STMixerStageHead',
            num_actions=5,
            hidden_channels=32,
            num_heads=4,
            feedforward_channels=64,
            featmap_strides=(4, 8),
            sampling_mixing=dict(
                type='STMixerSamplingMixing',
                spatial_points=2,
                temporal_points=2,
                out_multiplier=4,
                num_groups=4,
                sampling_cfg=dict(impl='pytorch')),
            loss_person=loss_person))


def _raw(seed, use_sigmoid, B=3, N=7, A=5, H=48, W=64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, N, 1 if use_sigmoid else 2, generator=g) * 2
    actions = torch.randn(B, N, A, generator=g) * 3
    boxes = torch.rand(B, N, 4, generator=g) * 90 - 15  # some outside
    boxes[..., 2:] = boxes[..., :2] + boxes[..., 2:].abs()
    # clip 1: nobody above any threshold (the fallback); clip 2: ties
    logits[1] = -20 if use_sigmoid else torch.tensor([-20., 20.])
    logits[2, 3:5] = logits[2, 2]
    return logits, actions, boxes, (H, W)


@pytest.mark.parametrize('use_sigmoid', [False, True])
@pytest.mark.parametrize('test_cfg', [
    dict(),
    dict(person_threshold=0.3, multiply_person_score=True),
    dict(person_threshold=0.0),
    dict(person_threshold=1.0, num_fallback=20),
    dict(person_threshold=0.7, num_fallback=0),
])
def test_numpy_postprocess_equals_the_heads(use_sigmoid, test_cfg):
    head = _head(use_sigmoid)
    assert head.use_sigmoid_person == use_sigmoid
    for seed in range(3):
        logits, actions, boxes, (h, w) = _raw(seed, use_sigmoid)
        # a threshold met exactly by one query
        probs = head.person_scores(logits)
        cfg = dict(test_cfg)
        if seed == 2 and 'person_threshold' not in cfg:
            cfg['person_threshold'] = float(probs[0, 4])
        torch_out = head.predict_by_feat(
            dict(person_logits=logits, action_logits=actions, bboxes=boxes),
            [dict(img_shape=(h, w))] * len(logits), head.parse_test_cfg(cfg))
        np_out = postprocess_ava(
            logits.numpy(),
            actions.numpy(),
            boxes.numpy(), (h, w),
            test_cfg=cfg,
            use_sigmoid_person=use_sigmoid)
        assert len(torch_out) == len(np_out)
        for t, n in zip(torch_out, np_out):
            np.testing.assert_array_equal(t.query_indices.numpy(),
                                          n['query_indices'])
            for key in ('bboxes', 'scores', 'person_scores'):
                np.testing.assert_allclose(
                    getattr(t, key).numpy(), n[key], rtol=0, atol=1e-6)
