"""FLOPs of a whole STMixer detector, decoder included (the library of
``tools/analysis_tools/get_flops.py`` and of the FLOP column of
``benchmark_model.py``).

mmaction2's ``get_flops.py`` replaces ``forward`` with ``extract_feat`` and so
counts only backbone + neck. :func:`count_flops` runs the detector's public
forward in ``mode='tensor'`` (mmdet's ``_forward(batch_inputs,
batch_data_samples)``: backbone, neck, query generator and every decoder stage)
under PyTorch's ``torch.utils.flop_counter.FlopCounterMode``, which sees every
ATen operator at the dispatcher, also inside custom autograd functions (the
PyTorch sampling path is one, and a JIT trace -- mmengine's / fvcore's counters
-- cannot go through it). It returns FLOPs per module, the decoder's share and
the operators counted.

How it counts (PyTorch's convention: a multiply-add is 2 FLOPs; the MACs
printed beside them are what mmdet / mmaction2 / fvcore call "FLOPs"):

* convolutions, linear layers, ``mm`` / ``bmm`` / ``baddbmm`` (the adaptive
  mixing's per-query channel and spatial/temporal mixing are batched matrix
  products with generated weights, and are counted as such), attention:
  PyTorch's formulas.
* 4-D adaptive sampling, whatever its implementation (``impl``): bilinear
  interpolation reads 4 corners per sampled point, so a sampled value costs
  4 multiply-adds per channel. ``grid_sample`` (``impl='reference'``):
  ``4 * N * C * H_out * W_out`` MACs (8 for a 3-D grid); the weighted gather
  of the PyTorch path (``embedding_bag`` with the bilinear weights as
  per-sample weights): one MAC per gathered element, ``num_indices *
  row_length``, i.e. what its gathers really do (at least the bilinear
  arithmetic above).
* element-wise operations, norms and softmax are not counted (as in
  PyTorch's counter; they are a small part here). mmcv's CUDA deformable
  attention kernel (``impl='mmcv'``) is not an ATen operator and is not
  seen: count with ``--cfg-options`` choosing ``impl='pytorch'`` (same
  arithmetic).
"""
import copy
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


def _prod(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def grid_sampler_2d_flop(input_shape,
                         grid_shape,
                         *args,
                         out_shape=None,
                         **kwargs) -> int:
    """Bilinear ``grid_sample``: 4 MACs (8 FLOPs) per output value; 1 MAC
    for nearest (``interpolation_mode`` 1)."""
    mode = args[0] if args else 0
    return 2 * (1 if mode == 1 else 4) * _prod(out_shape)


def grid_sampler_3d_flop(input_shape,
                         grid_shape,
                         *args,
                         out_shape=None,
                         **kwargs) -> int:
    """Trilinear ``grid_sample``: 8 MACs per output value."""
    mode = args[0] if args else 0
    return 2 * (1 if mode == 1 else 8) * _prod(out_shape)


def embedding_bag_flop(weight_shape,
                       indices_shape,
                       *args,
                       out_shape=None,
                       **kwargs) -> int:
    """Weighted gather: one MAC per gathered element (indices x C)."""
    return 2 * _prod(indices_shape) * int(weight_shape[-1])


def sampling_flop_mapping() -> Dict[Any, Any]:
    """``custom_mapping`` of ``FlopCounterMode``: the sampling operators
    (``grid_sampler_2d/3d``, the ``embedding_bag`` weighted gathers) with
    the rules above."""
    aten = torch.ops.aten
    mapping = {
        aten.grid_sampler_2d: grid_sampler_2d_flop,
        aten.grid_sampler_3d: grid_sampler_3d_flop,
    }
    for name in ('_embedding_bag', '_embedding_bag_forward_only',
                 'embedding_bag'):
        if hasattr(aten, name):
            mapping[getattr(aten, name)] = embedding_bag_flop
    return mapping


class DetectorForward(nn.Module):
    """The detector's ``forward(..., mode='tensor')`` with fixed data
    samples, as a module (so that the counter names every sub-module)."""

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
    """The config's detector with initialised random weights (its own
    ``init_weights``, no pretrained files): uninitialised memory can hold
    NaNs that turn sampling indices invalid (SlowFast-R101-NL)."""
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
        model (nn.Module): An STMixer detector (mmdet ``forward(inputs,
            data_samples, mode='tensor')`` contract), in eval mode.
        shape (Sequence[int]): ``(T, H, W)`` of the network input; H and W
            are padded as the model's data preprocessor pads them.
        batch_size (int): Clips in the batch.
        depth (int): Module depth below the detector to report.

    Returns:
        dict: ``total`` (FLOPs, 2 per multiply-add), ``by_module``
        (the four top-level parts), ``modules`` (name -> FLOPs up to
        ``depth``), ``by_operator`` (op -> FLOPs), ``decoder_share`` and
        ``input_shape``.
    """
    from mmaction.structures import ActionDataSample
    t, h, w = (int(v) for v in shape)
    divisor = int(getattr(model.data_preprocessor, 'pad_size_divisor', 1) or 1)
    ph = (h + divisor - 1) // divisor * divisor
    pw = (w + divisor - 1) // divisor * divisor
    samples = []
    for _ in range(batch_size):
        ds = ActionDataSample()
        ds.set_metainfo(dict(img_shape=(h, w), pad_shape=(ph, pw)))
        samples.append(ds)
    inputs = torch.randn(batch_size, 3, t, ph, pw)
    wrapper = DetectorForward(model, samples).eval()
    counter = FlopCounterMode(
        display=False, depth=depth + 2, custom_mapping=sampling_flop_mapping())
    with torch.no_grad(), counter:
        wrapper(inputs)
    counts = counter.get_flop_counts()
    total = sum(counts['Global'].values())
    modules = {}
    for name, ops in counts.items():
        if name.startswith(ROOT + '.'):
            modules[name[len(ROOT) + 1:]] = sum(ops.values())
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


def format_count(n: float) -> str:
    """``n`` with a T/G/M/K suffix (3 decimals)."""
    for unit, div in (('T', 1e12), ('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if n >= div:
            return f'{n / div:.3f} {unit}'
    return f'{n:.0f}'
