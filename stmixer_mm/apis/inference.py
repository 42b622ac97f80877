"""Run an STMixer detector on clips held in memory.

Example::

    >>> from stmixer_mm.apis import init_detector, inference_detector
    >>> model = init_detector('configs/quickstart/....py', 'epoch_12.pth')
    >>> result = inference_detector(model, frames)  # list of RGB HxWx3 uint8
    >>> result.pred_instances.bboxes  # [n, 4] normalised xyxy
    >>> result.pred_instances.scores  # [n, num_classes], column 0 unused
"""
import copy
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from stmixer_mm.registry import MODELS

# Transforms that locate / read frames from disk: an in-memory clip skips
# them and starts the test pipeline after them.
_FRAME_LOADERS = ('SampleAVAFrames', 'SampleFrames', 'RawFrameDecode',
                  'DecordInit', 'DecordDecode', 'OpenCVInit', 'OpenCVDecode',
                  'PyAVInit', 'PyAVDecode', 'mmaction.SampleAVAFrames',
                  'mmaction.RawFrameDecode')


def init_detector(config: Union[str, Config],
                  checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu',
                  cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a detector from a config file and load a checkpoint.

    Args:
        config (str | Config): config file or object.
        checkpoint (str, optional): checkpoint to load; None keeps the
            initial weights.
        device (str | torch.device): where to put the model.
        cfg_options (dict, optional): overrides merged into the config.

    Returns:
        nn.Module: the detector in eval mode, with ``model.cfg`` set.
    """
    if isinstance(config, str):
        config = Config.fromfile(config)
    elif not isinstance(config, Config):
        raise TypeError('config must be a file path or a Config, got '
                        f'{type(config).__name__}')
    config = copy.deepcopy(config)
    if cfg_options is not None:
        config.merge_from_dict(cfg_options)
    init_default_scope(config.get('default_scope', 'mmaction'))
    model = MODELS.build(config.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def _test_pipeline_cfg(cfg: Config) -> List[dict]:
    for key in ('test_pipeline', 'val_pipeline'):
        if key in cfg:
            return cfg[key]
    for key in ('test_dataloader', 'val_dataloader'):
        if key in cfg and 'pipeline' in cfg[key].get('dataset', {}):
            return cfg[key].dataset.pipeline
    raise KeyError('the config has no test_pipeline / val_pipeline / '
                   'test_dataloader.dataset.pipeline to preprocess clips')


def clip_sampling_from_cfg(cfg: Config) -> tuple:
    """Return ``(clip_len, frame_interval)`` of the config's test pipeline.
    """
    for t in _test_pipeline_cfg(cfg):
        if t['type'].split('.')[-1] in ('SampleAVAFrames', 'SampleFrames'):
            return t['clip_len'], t.get('frame_interval', 1)
    raise KeyError('the test pipeline has no SampleAVAFrames/SampleFrames '
                   'step that gives clip_len and frame_interval')


def build_clip_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without its frame sampling/decoding."""
    steps = [
        t for t in _test_pipeline_cfg(cfg) if t['type'] not in _FRAME_LOADERS
    ]
    return Compose(steps)


def clip_indices(center: int, clip_len: int, frame_interval: int,
                 num_frames: int) -> np.ndarray:
    """Frame indices of the clip around ``center``, as ``SampleAVAFrames``
    takes them in test mode (clamped to the video)."""
    start = center - (clip_len // 2) * frame_interval
    inds = start + np.arange(clip_len) * frame_interval
    return np.clip(inds, 0, num_frames - 1)


@torch.no_grad()
def inference_detector(model: torch.nn.Module,
                       frames: Sequence[np.ndarray],
                       pipeline: Optional[Compose] = None):
    """Detect persons and their actions in one clip.

    Args:
        model (nn.Module): a detector from :func:`init_detector`.
        frames (Sequence[np.ndarray]): the clip, ``clip_len`` RGB frames of
            shape [H, W, 3], uint8, already sampled around the keyframe
            (see :func:`clip_indices`).
        pipeline (Compose, optional): preprocessing; defaults to
            :func:`build_clip_pipeline` of ``model.cfg``.

    Returns:
        ActionDataSample: ``pred_instances.bboxes`` [n, 4] (normalised
        xyxy) and ``pred_instances.scores`` [n, num_classes].
    """
    if len(frames) == 0:
        raise ValueError('inference_detector got an empty clip')
    shapes = {f.shape for f in frames}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3 or \
            next(iter(shapes))[2] != 3:
        raise ValueError('frames must all be RGB arrays of one shape '
                         f'[H, W, 3], got shapes {sorted(shapes)}')
    if pipeline is None:
        pipeline = build_clip_pipeline(model.cfg)
    h, w = frames[0].shape[:2]
    results = dict(
        imgs=[np.ascontiguousarray(f) for f in frames],
        img_shape=(h, w),
        original_shape=(h, w),
        num_clips=1,
        clip_len=len(frames),
        modality='RGB')
    data = pseudo_collate([pipeline(results)])
    return model.test_step(data)[0]
