"""The ONNX export of a model with the actor mask head: its graph's fourth
output (``STMixerMaskHead.export_output``), post-processed and checked by
the core's export through the head's export hooks."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from stmixer_mm.apis import init_detector
from stmixer_mm.apps.deployment import (compare_with_torch, create_ort_session,
                                        export_onnx, normalize_clip,
                                        postprocess, random_frames, run_ort,
                                        set_sampling_impl, torch_predict)
from tests.test_deployment.test_export_onnx import ATOL, TINY_CFG, H, T, W

MASK_HEAD = dict(type='STMixerMaskHead', conv_channels=(32, 16, 16, 8))


@pytest.mark.parametrize('fallback', [True, False])
def test_export_with_a_mask_head(tmp_path, fallback):
    """A model with a mask head exports a fourth output, every query's mask
    logits; postprocess picks the kept queries' masks, as predict does."""
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    cfg = Config.fromfile(TINY_CFG)
    cfg.model.roi_head.update(type='STMixerMaskDecoder', mask_head=MASK_HEAD)
    torch.manual_seed(0)
    model = init_detector(cfg, fallback_queries=fallback)  # as configured
    model.init_weights()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    ref_cfg = Config.fromfile(TINY_CFG)
    ref_cfg.model.roi_head.update(
        type='STMixerMaskDecoder', mask_head=MASK_HEAD)
    set_sampling_impl(ref_cfg, 'reference')  # the traceable sampling
    graph_model = init_detector(ref_cfg, fallback_queries=fallback)
    graph_model.load_state_dict(model.state_dict())
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
    out = str(tmp_path / 'mask.onnx')
    meta = export_onnx(graph_model, out, (T, H, W))
    assert meta['output_names'] == [
        'person_logits', 'action_logits', 'bboxes', 'mask_logits'
    ]
    assert meta['mask_stride'] == 4 and meta['mask_threshold'] == 0.5
    ort = run_ort(
        create_ort_session(out, 1),
        np.concatenate([normalize_clip(f, meta) for f in random_frames(meta)]))
    # every query's mask at stride 4 of the padded 64 x 96
    assert ort[3].shape == (1, meta['num_queries'], 16, 24)
    report = compare_with_torch(model, out, meta, threads=1)
    assert report['ok'], report['errors']
    assert report['mask_logits'] <= ATOL
    assert 'masks' in report and report['masks'] <= 1e-3
    dets = postprocess(ort, meta, fallback_queries=fallback)
    preds = torch_predict(model, random_frames(meta))
    assert dets[0]['masks'].shape == preds[0]['masks'].shape == (len(
        dets[0]['bboxes']), H, W)
    if fallback:  # the best queries are kept: masks were compared
        assert len(dets[0]['bboxes']) >= 3
