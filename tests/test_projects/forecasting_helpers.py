"""Samples of the forecasting project's tests: persons of a 64 x 64 clip
with their futures at ``HORIZONS``."""
from pathlib import Path

import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

#: the pin of the forecast decoder (data/generate_pins.py)
PIN = Path(__file__).resolve().parent / 'data' / 'forecasting_pin.pt'
HORIZONS = (4, 8)
BOXES = [[8., 6., 40., 60.], [30., 10., 60., 50.]]


def sample(boxes, future=True, size=64, num_actions=80):
    """A data sample with ``boxes`` and (``future``) their futures: shifted
    4 pixels right per horizon, action 3, out of view at the last one."""
    s = ActionDataSample()
    s.set_metainfo(
        dict(
            img_shape=(size, size),
            batch_input_shape=(size, size),
            img_key=f'v,{len(boxes)}'))
    labels = torch.zeros(len(boxes), num_actions + 1)
    labels[:, 1] = 1
    gt = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4),
        labels=labels)
    if future:
        k = len(HORIZONS)
        shift = torch.tensor([4., 0., 4., 0.])
        gt.future_bboxes = gt.bboxes[:, None] + shift * torch.arange(
            1, k + 1)[None, :, None]
        gt.future_labels = torch.zeros(len(boxes), k, num_actions)
        gt.future_labels[:, :, 3] = 1
        gt.future_visible = torch.ones(len(boxes), k, dtype=torch.bool)
        gt.future_visible[:, -1] = False
    s.gt_instances = gt
    return s


#: (decoder type, forecast head settings) of the pinned decoders
VARIANTS = dict(plain=dict(), roi_grid=dict(roi_grid=3))


def run(variant: str, decoder_type: str) -> dict:
    """The pinned run of ``variant``: seeded build and init, the losses on
    two samples with futures and the predictions of the kept detections."""
    # (the suite's decoder helpers; the project's parts registered)
    import projects.forecasting.forecasting  # noqa: F401
    from tests.test_models.test_roi_heads.test_stmixer_decoder import seeded
    decoder, (x, queries) = seeded(
        type=decoder_type,
        forecast_head=dict(
            type='STMixerForecastHead', horizons=HORIZONS,
            **VARIANTS[variant]))
    samples = [sample(BOXES), sample(BOXES[:1])]
    losses = decoder.loss(x, queries, samples)
    decoder.eval()
    with torch.no_grad():
        preds = decoder.predict(x, queries, [sample([], False)] * 2)
    out = dict(losses={k: v.detach() for k, v in losses.items()})
    for i, p in enumerate(preds):
        for key in ('bboxes', 'scores', 'future_bboxes', 'future_scores',
                    'future_visible'):
            out[f'pred{i}.{key}'] = p[key].detach().clone()
    return out
