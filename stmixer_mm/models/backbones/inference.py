"""Inference-time choices for the CNN backbones.

:func:`use_onednn_conv3d` makes the ``nn.Conv3d`` of a module call oneDNN
(``torch.mkldnn_convolution``) for kernels larger than 1x1x1 when it runs
on the CPU in float32 without autograd. PyTorch's own choice sends a
non-strided convolution with a 3x3 (or smaller) spatial kernel to its slow
``vol2col`` + GEMM kernel (``slow_conv3d``) whenever ``N * C * T * H`` is
at most 20480, which is every 3x3 convolution of the SlowOnly-R50 4x16
network at batch 1 (64 x 4 x 64, 128 x 4 x 32, ...) and of SlowFast's fast
pathway; oneDNN runs those faster on one thread (1x3x3, 64 channels,
4x64x80: 222 ms -> 66 ms, wall time on a loaded machine; the SlowOnly-R50
backbone's CPU time 1.29 s -> 1.17 s). 1x1x1 kernels keep PyTorch's choice
(its GEMM path is faster for them on one thread). Same parameters, same
state dict, same outputs up to float rounding; with autograd enabled, on
another device or dtype, and while traced, scripted, compiled, exported to
ONNX or under a dispatch mode (``FlopCounterMode``), the layer runs
``nn.Conv3d``'s own forward.

:func:`fuse_conv_module_bn` folds every eval-mode BatchNorm of an mmcv
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
from typing import Dict, List, Optional

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _eager_inference() -> bool:
    """No autograd, and not traced, scripted, compiled, exported or under a
    dispatch mode (e.g. ``FlopCounterMode``): those see the standard
    ``aten.convolution`` (counted FLOPs, exportable graphs)."""
    if torch.is_grad_enabled():
        return False
    if (torch.jit.is_tracing() or torch.jit.is_scripting()
            or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export()):
        return False
    from torch.utils._python_dispatch import _get_current_dispatch_mode
    return _get_current_dispatch_mode() is None


class OneDNNConv3d(nn.Conv3d):
    """``nn.Conv3d`` whose CPU float32 inference runs oneDNN's convolution
    (see the module docstring); no state of its own.
    :func:`use_onednn_conv3d` gives a layer of any ``nn.Conv3d`` subclass
    (e.g. mmcv's ``Conv3d`` wrapper) this behaviour by putting it in a
    subclass of both."""

    def _conv_forward(self, input: Tensor, weight: Tensor,
                      bias: Optional[Tensor]) -> Tensor:
        if (_eager_inference() and input.device.type == 'cpu'
                and input.dtype == torch.float32
                and weight.dtype == torch.float32
                and self.padding_mode == 'zeros'
                and not isinstance(self.padding, str)
                and tuple(self.kernel_size) != (1, 1, 1) and input.dim() == 5):
            return torch.mkldnn_convolution(input.contiguous(), weight, bias,
                                            self.padding, self.stride,
                                            self.dilation, self.groups)
        return super()._conv_forward(input, weight, bias)


_ONEDNN_CLASSES: Dict[type, type] = {nn.Conv3d: OneDNNConv3d}


def _onednn_class(cls: type) -> type:
    if cls not in _ONEDNN_CLASSES:
        _ONEDNN_CLASSES[cls] = type('OneDNN' + cls.__name__,
                                    (OneDNNConv3d, cls), {})
    return _ONEDNN_CLASSES[cls]


def use_onednn_conv3d(module: nn.Module) -> int:
    """Give every ``nn.Conv3d`` (or subclass) of ``module`` the oneDNN
    inference path of :class:`OneDNNConv3d`, in place: only the layer's
    class changes (parameters, buffers, keys and its own forward are kept);
    returns how many layers were changed."""
    changed = 0
    for m in module.modules():
        if isinstance(m, nn.Conv3d) and not isinstance(m, OneDNNConv3d):
            m.__class__ = _onednn_class(type(m))
            changed += 1
    return changed


def native_conv3d(module: nn.Module) -> int:
    """Undo :func:`use_onednn_conv3d`; returns how many were changed."""
    back = {v: k for k, v in _ONEDNN_CLASSES.items()}
    changed = 0
    for m in module.modules():
        if type(m) in back:
            m.__class__ = back[type(m)]
            changed += 1
    return changed


CONV3D_IMPLS = ('onednn', 'native')


def set_conv3d_impl(module: nn.Module, impl: str) -> int:
    """``'onednn'``: :func:`use_onednn_conv3d`; ``'native'``:
    :func:`native_conv3d`. Returns how many layers were changed."""
    if impl not in CONV3D_IMPLS:
        raise ValueError(
            f'conv3d_impl must be one of {CONV3D_IMPLS}, got {impl!r}')
    return (use_onednn_conv3d(module)
            if impl == 'onednn' else native_conv3d(module))


def fuse_conv_module_bn(module: nn.Module) -> int:
    """Fold the BatchNorm of every ``ConvModule`` in ``module`` whose order
    is conv before norm into its convolution, in place; returns how many
    were fused.

    Not mmcv's ``fuse_conv_bn`` (which returns the module and fuses a plain
    conv followed by a BatchNorm child): this one goes by ``ConvModule``
    (the norm's place in ``order``), refuses a module in training mode and
    counts what it folded, for :func:`prepare_for_inference`'s report.

    Raises:
        RuntimeError: When ``module`` is in training mode (BatchNorm would
            still update and use batch statistics).
    """
    if module.training:
        raise RuntimeError(
            'fuse_conv_module_bn: the module is in training mode; '
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
            convolutions (:func:`fuse_conv_module_bn`). Defaults to True.
    """
    detector.eval()
    applied = []
    backbone = getattr(detector, 'backbone', detector)
    if conv_bn:
        n = fuse_conv_module_bn(backbone)
        if n:
            applied.append(f'conv-BN fusion ({n} BatchNorms folded)')
    attn = getattr(backbone, 'attn_impl', None)
    if attn is not None:
        applied.append(f'ViT attention {attn!r}')
    n_onednn = sum(isinstance(m, OneDNNConv3d) for m in backbone.modules())
    if n_onednn:
        applied.append(f'oneDNN Conv3d ({n_onednn} layers)')
    return applied
