"""FLOPs of a whole STMixer detector, decoder included (the library of
``tools/analysis_tools/get_flops.py`` and of ``benchmark_model.py``'s FLOPs):
unlike mmaction2's (backbone + neck), mmdet's ``_forward`` under
``FlopCounterMode``; PyTorch-path sampling: one MAC per ``embedding_bag``
element; mmcv's kernel is not counted. Rules: docs/en/benchmarks.md."""
import copy
import math
from collections import defaultdict
from typing import Any, Dict, Sequence

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stmixer_mm.registry import MODELS
from .common import drop_pretrained

TOP_LEVEL = ('backbone', 'neck', 'rpn_head', 'roi_head')
ROOT = 'DetectorForward.detector'


def _sampler_flop(macs: int):
    """The rule of a ``grid_sample`` of ``macs`` MACs per output value
    (bilinear 4, trilinear 8; nearest, ``interpolation_mode`` 1: 1)."""

    def flop(input_shape, grid_shape, *args, out_shape=None, **kwargs) -> int:
        mode = args[0] if args else 0
        return 2 * (1 if mode == 1 else macs) * math.prod(out_shape)

    return flop


def embedding_bag_flop(weight_shape,
                       indices_shape,
                       *args,
                       out_shape=None,
                       **kwargs) -> int:
    """Weighted gather: one MAC per gathered element (indices x C)."""
    return 2 * math.prod(indices_shape) * int(weight_shape[-1])


def sampling_flop_mapping() -> Dict[Any, Any]:
    """``custom_mapping`` of ``FlopCounterMode`` for the sampling operators
    (the rules above)."""
    aten = torch.ops.aten
    mapping = {
        aten.grid_sampler_2d: _sampler_flop(4),
        aten.grid_sampler_3d: _sampler_flop(8),
    }
    for name in ('_embedding_bag', '_embedding_bag_forward_only',
                 'embedding_bag'):
        if hasattr(aten, name):
            mapping[getattr(aten, name)] = embedding_bag_flop
    return mapping


class DetectorForward(nn.Module):
    """The detector's ``forward(..., mode='tensor')`` with fixed data samples,
    as a module (so that the counter names every sub-module)."""

    def __init__(self, detector: nn.Module, data_samples: list) -> None:
        super().__init__()
        self.detector = detector
        self.data_samples = data_samples

    def forward(self, batch_inputs: torch.Tensor):
        return self.detector(batch_inputs, self.data_samples, mode='tensor')


def default_clip_len(cfg: Config) -> int:
    """Frames per clip of the test pipeline (``SampleAVAFrames`` or any
    transform with ``clip_len``)."""
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        pipeline = cfg.get(key, {}).get('dataset', {}).get('pipeline', [])
        for t in pipeline:
            if 'clip_len' in t:
                return int(t['clip_len'])
    raise ValueError('no transform with clip_len in the config pipelines: '
                     'pass --shape T H W')


def build_detector(cfg: Config) -> nn.Module:
    """The config's detector with its own ``init_weights`` (no pretrained
    files): uninitialised memory can hold NaNs that make sampling indices
    invalid (SlowFast-R101-NL)."""
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model_cfg = copy.deepcopy(cfg.model)
    drop_pretrained(model_cfg)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.eval()
    return model


def count_flops(model: nn.Module,
                shape: Sequence[int],
                batch_size: int = 1,
                depth: int = 3) -> Dict[str, Any]:
    """Count the FLOPs of ``model``'s tensor forward on a random clip batch.

    Args:
        model (nn.Module): An STMixer detector (``mode='tensor'``), eval mode.
        shape (Sequence[int]): Input ``(T, H, W)``, padded as preprocessed.
        batch_size (int): Clips in the batch.
        depth (int): Module depth below the detector to report.

    Returns:
        dict: ``total``, ``by_module`` (the four top-level parts), ``modules``
        (to ``depth``), ``by_operator``, ``decoder_share``, ``input_shape``.
    """
    from mmaction.structures import ActionDataSample
    t, h, w = (int(v) for v in shape)
    divisor = int(getattr(model.data_preprocessor, 'pad_size_divisor', 1) or 1)
    ph, pw = ((v + divisor - 1) // divisor * divisor for v in (h, w))
    samples = [
        ActionDataSample(metainfo=dict(img_shape=(h, w), pad_shape=(ph, pw)))
        for _ in range(batch_size)
    ]
    inputs = torch.randn(batch_size, 3, t, ph, pw)
    wrapper = DetectorForward(model, samples).eval()
    counter = FlopCounterMode(
        display=False, depth=depth + 2, custom_mapping=sampling_flop_mapping())
    with torch.no_grad(), counter:
        wrapper(inputs)
    counts = counter.get_flop_counts()
    total = sum(counts['Global'].values())
    modules = {
        name[len(ROOT) + 1:]: sum(ops.values())
        for name, ops in counts.items() if name.startswith(ROOT + '.')
    }
    parts = {k: modules.get(k, 0) for k in TOP_LEVEL}
    missing = total - sum(parts.values())
    if missing:
        raise RuntimeError(
            f'{missing} FLOPs outside {TOP_LEVEL}: the detector has other '
            f'top-level parts ({sorted(n for n in modules if "." not in n)})')
    by_operator = defaultdict(int)
    for op, n in counts['Global'].items():
        by_operator[str(op)] += n
    return dict(
        total=total,
        by_module=parts,
        modules=modules,
        by_operator=dict(by_operator),
        decoder_share=parts['roi_head'] / total if total else 0.0,
        input_shape=tuple(inputs.shape))
