"""Inference-only rewrites of a detector's backbone.

:func:`fuse_conv_bn` folds every eval-mode BatchNorm of an mmcv
``ConvModule`` (conv -> norm -> act, as mmaction2's ResNet3d and the
SlowFast laterals build them) into its convolution:
``w' = w * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma /
sqrt(var + eps) + beta``; the norm becomes ``nn.Identity``. Same outputs up
to float rounding, one pass over the activations fewer per convolution.
Only for inference: the fused model has no BatchNorm statistics left to
train.

:func:`prepare_for_inference` applies what the benchmark
(``tools/analysis_tools/benchmark_model.py --vs-official``) showed to help,
and returns what it applied.
"""
from typing import List

import torch
from mmcv.cnn import ConvModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fuse_conv_bn(module: nn.Module) -> int:
    """Fold the BatchNorm of every ``ConvModule`` in ``module`` whose order
    is conv before norm into its convolution, in place; returns how many
    were fused.

    Raises:
        RuntimeError: When ``module`` is in training mode (BatchNorm would
            still update and use batch statistics).
    """
    if module.training:
        raise RuntimeError('fuse_conv_bn: the module is in training mode; '
                           'conv-BN fusion is for inference (call .eval())')
    fused = 0
    for m in module.modules():
        if not (isinstance(m, ConvModule) and m.with_norm):
            continue
        norm = m.norm
        if not isinstance(norm, _BatchNorm) or not isinstance(
                m.conv, nn.modules.conv._ConvNd):
            continue
        if m.order.index('conv') > m.order.index('norm'):
            continue  # norm before conv: cannot fold
        if not norm.track_running_stats or norm.running_mean is None:
            continue
        with torch.no_grad():
            m.conv = fuse_conv_bn_eval(m.conv, norm)
        m._modules[m.norm_name] = nn.Identity()
        fused += 1
    return fused


def prepare_for_inference(detector: nn.Module,
                          conv_bn: bool = True) -> List[str]:
    """Put ``detector`` in eval mode and apply the inference rewrites of
    its backbone; returns a description of each one applied.

    Args:
        detector (nn.Module): An ``STMixer`` (anything with a
            ``backbone``).
        conv_bn (bool): Fold the backbone's BatchNorms into its
            convolutions (:func:`fuse_conv_bn`). Defaults to True.
    """
    detector.eval()
    applied = []
    backbone = getattr(detector, 'backbone', detector)
    if conv_bn:
        n = fuse_conv_bn(backbone)
        if n:
            applied.append(f'conv-BN fusion ({n} BatchNorms folded)')
    attn = getattr(backbone, 'attn_impl', None)
    if attn is not None:
        applied.append(f'ViT attention {attn!r}')
    return applied
