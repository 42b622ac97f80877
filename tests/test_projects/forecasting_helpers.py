"""Samples of the forecasting project's tests: persons of a 64 x 64 clip
with their futures at ``HORIZONS``."""
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

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
