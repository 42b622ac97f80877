"""The pinned run of the actor mask head (``data/actor_masks_pin.pt``),
pinned before the actor masks move from the core package to
``projects/actor_masks/`` (issue 113): the decoder's losses with the mask
head, its kept detections' masks, the export's mask logits and their numpy
post-processing, on fixed weights."""
from pathlib import Path

import numpy as np
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

#: the pin (data/generate_pins.py)
PIN = Path(__file__).resolve().parent / 'data' / 'actor_masks_pin.pt'
BOXES = [[8., 6., 40., 60.], [30., 10., 60., 50.]]


def sample(boxes, size=64):
    """A data sample with ``boxes`` (action 12) and their box masks."""
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(size, size), img_key=f'v,{len(boxes)}'))
    labels = torch.zeros(len(boxes), 81)
    labels[:, 12] = 1
    masks = torch.zeros(len(boxes), size, size, dtype=torch.bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[i, int(y1):int(y2), int(x1):int(x2)] = True
    s.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4),
        labels=labels,
        masks=masks)
    return s


def run(decoder_type: str) -> dict:
    """Seeded build and init of a 2-stage decoder of ``decoder_type`` with a
    mask head; its losses on two samples with masks, the masks of its kept
    detections, every query's exported mask logits and the numpy
    post-processing of the first clip's first three."""
    import projects.actor_masks.actor_masks  # noqa: F401
    # (the suite's decoder helpers)
    from tests.test_models.test_roi_heads.test_stmixer_decoder import seeded
    decoder, (x, queries) = seeded(
        type=decoder_type,
        mask_head=dict(type='STMixerMaskHead', conv_channels=(32, 16, 16, 8)))
    losses = decoder.loss(x, queries, [sample(BOXES), sample(BOXES[:1])])
    decoder.eval()
    out = dict(losses={k: v.detach() for k, v in losses.items()})
    with torch.no_grad():
        preds = decoder.predict(x, queries, [sample([])] * 2)
        last = decoder(x, queries)[-1]
        logits = decoder.mask_head.export_forward(x, last)
    for i, p in enumerate(preds):
        for key in ('bboxes', 'scores', 'masks'):
            out[f'pred{i}.{key}'] = p[key].detach().clone()
    out['export.mask_logits'] = logits.clone()
    meta = dict(img_shape=[64, 64], **decoder.mask_head.export_meta())
    post = decoder.mask_head.postprocess_export(logits[0, :3].numpy(), meta)
    out['export.masks'] = torch.from_numpy(np.ascontiguousarray(post['masks']))
    return out
