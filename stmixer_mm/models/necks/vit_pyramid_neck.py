"""STMixer's simple feature pyramid for plain (single-scale) ViT backbones."""
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments

#: Scales the pyramid can build, with the layers put before the shared tail.
SUPPORTED_SCALES = (4.0, 2.0, 1.0, 0.5)


def build_norm(norm_cfg: ConfigType, num_features: int) -> nn.Module:
    """Build a norm layer from ``norm_cfg`` for ``num_features`` channels.

    The type is resolved in stmixer_mm's ``MODELS`` (mmdet's registry and its
    parents), so ``'ChannelLayerNorm3d'``, ``'BN3d'``, ``'GN'`` ... all work
    whatever the current default scope is. mmcv's ``build_norm_layer`` then
    builds it (it handles ``requires_grad`` and GroupNorm's argument names).
    """
    cfg = dict(norm_cfg)
    layer_type = cfg.get('type')
    if isinstance(layer_type, str):
        norm_cls = MODELS.get(layer_type)
        if norm_cls is None:
            raise KeyError(f'Unknown norm type {layer_type!r}')
        cfg['type'] = norm_cls
    return build_norm_layer(cfg, num_features)[1]


@MODELS.register_module()
class STMixerViTNeck(BaseModule):
    """Rebuild a 4-level pyramid from a single-scale ViT feature map.

    This is the neck of STMixer's ViT models (`STMixer, CVPR 2023
    <https://arxiv.org/abs/2303.15879>`_). A plain ViT (e.g. VideoMAE ViT-B,
    mmaction2's ``VisionTransformer`` with ``return_feat_map=True``) yields
    one stride-16 map ``[B, 768, T, h, w]``. Each level turns it (or the
    i-th of four given maps) into ``out_channels`` channels at its own
    spatial scale. Time is never resampled: all (transposed) convolutions
    and poolings have temporal kernel and stride 1.

    Per level ``i`` an ``nn.Sequential`` is stored in
    ``self.lateral_convs[i]``; its layer order is the official one, so the
    official checkpoint keys ``lateral_convs.{level}.{layer index}.*`` load
    with the identity mapping. With ``C = in_channels`` and
    ``D = out_channels`` (768 / 256 for ViT-B):

    ===== ===== ========================================= ==============
    level scale layers (index: module)                    tensors
    ===== ===== ========================================= ==============
    0     4     0: ConvTranspose3d(C, C/2, k=s=(1,2,2))   0.weight, 0.bias
                1: norm(C/2)                              1.weight, 1.bias
                2: GELU                                   --
                3: ConvTranspose3d(C/2, C/4, k=s=(1,2,2)) 3.weight, 3.bias
                4: Conv3d(C/4, D, 1, bias=False)          4.weight
                5: norm(D)                                5.weight, 5.bias
                6: Conv3d(D, D, 3, padding=1, bias=False) 6.weight
    1     2     0: ConvTranspose3d(C, C/2, k=s=(1,2,2))   0.weight, 0.bias
                1: Conv3d(C/2, D, 1, bias=False)          1.weight
                2: norm(D)                                2.weight, 2.bias
                3: Conv3d(D, D, 3, padding=1, bias=False) 3.weight
    2     1     0: Conv3d(C, D, 1, bias=False)            0.weight
                1: norm(D)                                1.weight, 1.bias
                2: Conv3d(D, D, 3, padding=1, bias=False) 2.weight
    3     0.5   0: MaxPool3d(k=s=(1,2,2))                 --
                1: Conv3d(C, D, 1, bias=False)            1.weight
                2: norm(D)                                2.weight, 2.bias
                3: Conv3d(D, D, 3, padding=1, bias=False) 3.weight
    ===== ===== ========================================= ==============

    ``norm`` defaults to :class:`ChannelLayerNorm3d` (eps 1e-6), as in the
    official release. With the default ``scales`` the output strides are
    4, 8, 16, 32 for a stride-16 input.

    Initialisation: the official code applies no explicit initialisation to
    this neck, so PyTorch's defaults are kept (``init_cfg=None``; norm
    weights 1, biases 0).

    Args:
        in_channels (int | Sequence[int]): Channels of the input map(s); one
            int for all levels or one per level. Defaults to 768.
        out_channels (int): Channels of every output level. Defaults to 256.
        scales (Sequence[float]): Spatial scale factor of each level, from
            {4, 2, 1, 0.5}. Defaults to ``(4, 2, 1, 0.5)``.
        norm_cfg (dict): Norm layer config. Defaults to
            ``dict(type='ChannelLayerNorm3d', eps=1e-6)``.
        act_cfg (dict): Activation between the two transposed convolutions
            of scale 4. Defaults to ``dict(type='GELU')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to None (PyTorch defaults).
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]] = 768,
                 out_channels: int = 256,
                 scales: Sequence[float] = (4, 2, 1, 0.5),
                 norm_cfg: ConfigType = dict(
                     type='ChannelLayerNorm3d', eps=1e-6),
                 act_cfg: ConfigType = dict(type='GELU'),
                 init_cfg: OptMultiConfig = None) -> None:
        check_arguments(STMixerViTNeck, locals())
        super().__init__(init_cfg=init_cfg)
        scales = [float(s) for s in scales]
        for scale in scales:
            if scale not in SUPPORTED_SCALES:
                raise ValueError(
                    f'STMixerViTNeck: unsupported scale {scale}; supported '
                    f'scales are {SUPPORTED_SCALES}')
        if isinstance(in_channels, int):
            in_channels = [in_channels] * len(scales)
        in_channels = list(in_channels)
        if len(in_channels) != len(scales):
            raise ValueError(
                f'STMixerViTNeck: got {len(in_channels)} in_channels for '
                f'{len(scales)} scales')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scales = scales
        self.lateral_convs = nn.ModuleList(
            self._make_level(dim, scale, out_channels, norm_cfg, act_cfg)
            for dim, scale in zip(in_channels, scales))

    @staticmethod
    def _make_level(dim: int, scale: float, out_channels: int,
                    norm_cfg: ConfigType,
                    act_cfg: ConfigType) -> nn.Sequential:
        """Layers of one level, in the official order (see class doc)."""
        kernel = (1, 2, 2)
        layers: List[nn.Module] = []
        if scale == 4.0:
            if dim % 4:
                raise ValueError(
                    f'scale 4 needs in_channels divisible by 4, got {dim}')
            layers += [
                nn.ConvTranspose3d(dim, dim // 2, kernel, stride=kernel),
                build_norm(norm_cfg, dim // 2),
                build_activation_layer(act_cfg),
                nn.ConvTranspose3d(dim // 2, dim // 4, kernel, stride=kernel)
            ]
            dim = dim // 4
        elif scale == 2.0:
            if dim % 2:
                raise ValueError(
                    f'scale 2 needs in_channels divisible by 2, got {dim}')
            layers.append(
                nn.ConvTranspose3d(dim, dim // 2, kernel, stride=kernel))
            dim = dim // 2
        elif scale == 0.5:
            layers.append(nn.MaxPool3d(kernel, stride=kernel))
        layers += [
            nn.Conv3d(dim, out_channels, kernel_size=1, bias=False),
            build_norm(norm_cfg, out_channels),
            nn.Conv3d(
                out_channels,
                out_channels,
                kernel_size=3,
                padding=1,
                bias=False)
        ]
        return nn.Sequential(*layers)

    def forward(self, inputs: Union[Tensor,
                                    Sequence[Tensor]]) -> Tuple[Tensor, ...]:
        """Build the pyramid.

        Args:
            inputs (Tensor | Sequence[Tensor]): One map ``[B, C, T, h, w]``
                fed to every level, or one map per level (element ``i`` goes
                to ``scales[i]``; a sequence of length 1 counts as one map).

        Returns:
            tuple[Tensor]: One map per level, ``[B, out_channels, T,
            h * scale, w * scale]`` (floor division for scale 0.5), i.e.
            ``[B,256,T,4h,4w], [B,256,T,2h,2w], [B,256,T,h,w],
            [B,256,T,h/2,w/2]`` with the defaults.
        """
        num_levels = len(self.lateral_convs)
        if isinstance(inputs, Tensor):
            inputs = [inputs] * num_levels
        else:
            inputs = list(inputs)
            if len(inputs) == 1:
                inputs = inputs * num_levels
        if len(inputs) != num_levels:
            raise ValueError(
                f'STMixerViTNeck expects one map or {num_levels} maps, got '
                f'{len(inputs)}')
        for i, (x, channels) in enumerate(zip(inputs, self.in_channels)):
            if x.dim() != 5 or x.size(1) != channels:
                raise ValueError(
                    f'STMixerViTNeck level {i} expects [B, {channels}, T, H, '
                    f'W], got shape {tuple(x.shape)}')
        return tuple(level(x) for level, x in zip(self.lateral_convs, inputs))
