"""Inference-time rewrites of the CNN backbones: oneDNN 3-D convolutions and
conv-BN fusion (docs/en/benchmarks.md)."""
from typing import Dict, List, Optional

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _eager_inference() -> bool:
    """No autograd, tracing, scripting, compiling, export or dispatch mode
    (e.g. ``FlopCounterMode``): those see the standard ``aten.convolution``."""
    if torch.is_grad_enabled():
        return False
    if (torch.jit.is_tracing() or torch.jit.is_scripting()
            or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export()):
        return False
    from torch.utils._python_dispatch import _get_current_dispatch_mode
    return _get_current_dispatch_mode() is None


class OneDNNConv3d(nn.Conv3d):
    """``nn.Conv3d`` whose CPU float32 inference (kernel above 1x1x1) runs
    oneDNN's convolution, not PyTorch's slow ``slow_conv3d``; no state."""

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
    """Switch every ``nn.Conv3d`` to :class:`OneDNNConv3d` in place; count."""
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
    """:func:`use_onednn_conv3d` or :func:`native_conv3d` by ``impl``.

    Args:
        module (nn.Module): Module whose ``nn.Conv3d`` layers are switched
            in place.
        impl (str): ``'onednn'`` (:class:`OneDNNConv3d`) or ``'native'``
            (back to the layers' own classes; any other value as well:
            the backbones check their ``conv3d_impl`` when built).

    Returns:
        int: How many layers were changed.
    """
    return (use_onednn_conv3d(module)
            if impl == 'onednn' else native_conv3d(module))


def fuse_conv_module_bn(module: nn.Module) -> int:
    """Fold the BatchNorm of every conv-before-norm ``ConvModule`` into its
    convolution in place; returns how many. Unlike mmcv's ``fuse_conv_bn`` it
    goes by ``ConvModule``'s ``order``, counts, and refuses training mode
    (RuntimeError)."""
    if module.training:  # its BatchNorms use the batch's statistics
        raise RuntimeError('fuse_conv_module_bn: the module is in training '
                           'mode; call .eval() first')
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
    """Eval mode plus the backbone's inference rewrites; describes each.

    Args:
        detector (nn.Module): An ``STMixer`` (anything with a
            ``backbone``; else the module itself is rewritten). Put in
            eval mode in place.
        conv_bn (bool): Fold the backbone's BatchNorms into its
            convolutions (:func:`fuse_conv_module_bn`). Defaults to True.

    Returns:
        list[str]: A description of each inference rewrite the backbone
        now has: the conv-BN fusion (when any BatchNorm was folded), the
        ViT's ``attn_impl`` and the count of :class:`OneDNNConv3d`
        layers (when present).
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
