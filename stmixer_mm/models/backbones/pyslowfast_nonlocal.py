"""PySlowFast's non-local block (``slowfast/models/nonlocal_helper.py``, the
official SlowFast-R101-NL's), which computes other things than mmcv's
``NonLocal3d`` from the same weights (docs/en/useful_tools.md)."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, constant_init, kaiming_init
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice, check_ints, is_int

INSTANTIATIONS = ('dot_product', 'softmax')


@MODELS.register_module()
class PySlowFastNonLocal3d(BaseModule):
    """Non-local block computed as PySlowFast's ``Nonlocal``.

    ``theta = conv_theta(x)``; ``phi``, ``g`` from ``MaxPool3d(pool_size)(x)``
    (``K`` keys); ``A = theta^T phi`` divided by ``K`` (``'dot_product'``) or
    ``softmax(A * C' ** -0.5)`` (``'softmax'``); ``x + bn(conv_out(g A^T))``.

    Args:
        in_channels (int): Channels ``C`` of the input and output.
        inner_channels (int, optional): ``C'``. Defaults to ``C // 2``.
        pool_size (Sequence[int] | None): Key/value max-pool ``(t, h, w)``
            (None or ones: none).
        instantiation (str): ``'dot_product'`` (default) or ``'softmax'``.
        norm_cfg (dict, optional): Norm after ``conv_out`` (named ``bn``).
        zero_init (bool): Zero norm scale (a fresh block is the identity).
        init_cfg (dict | list[dict], optional): Replaces :meth:`init_weights`.
    """

    def __init__(self,
                 in_channels: int,
                 inner_channels: Optional[int] = None,
                 pool_size: Optional[Sequence[int]] = (2, 2, 2),
                 instantiation: str = 'dot_product',
                 norm_cfg: Optional[dict] = dict(
                     type='BN3d', eps=1e-5, momentum=0.1),
                 zero_init: bool = True,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        name = 'PySlowFastNonLocal3d'
        if inner_channels is None and is_int(in_channels):
            inner_channels = in_channels // 2
        check_ints(
            name, in_channels=in_channels, inner_channels=inner_channels)
        check_choice(name, INSTANTIATIONS, instantiation=instantiation)
        check_choice(name, (True, False), zero_init=zero_init)  # 'no': True
        if pool_size is not None:  # all ones: no pooling
            pool_size = None if set(pool_size) == {1} else tuple(pool_size)
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.inner_channels = inner_channels
        self.pool_size: Optional[Tuple[int, int, int]] = pool_size
        self.instantiation = instantiation
        self.zero_init = zero_init

        self.conv_theta = nn.Conv3d(in_channels, inner_channels, 1)
        self.conv_phi = nn.Conv3d(in_channels, inner_channels, 1)
        self.conv_g = nn.Conv3d(in_channels, inner_channels, 1)
        self.conv_out = nn.Conv3d(inner_channels, in_channels, 1)
        self.bn = (
            build_norm_layer(norm_cfg, in_channels)[1]
            if norm_cfg is not None else nn.Identity())
        self.pool = (
            nn.MaxPool3d(kernel_size=pool_size, stride=pool_size)
            if pool_size is not None else nn.Identity())

    def init_weights(self) -> None:
        """PySlowFast's: MSRA-filled convs, norm scale 0 with ``zero_init``."""
        if self.init_cfg is not None:
            super().init_weights()
            return
        for conv in (self.conv_theta, self.conv_phi, self.conv_g,
                     self.conv_out):
            kaiming_init(conv, mode='fan_out', distribution='normal')
        if isinstance(self.bn, nn.Identity):
            return
        if getattr(self.bn, 'weight', None) is not None:
            constant_init(self.bn, 0.0 if self.zero_init else 1.0, bias=0.0)

    def forward(self, x: Tensor) -> Tensor:
        """``[N, C, T, H, W]`` -> ``x`` plus the non-local response."""
        n, _, t, h, w = x.shape
        theta = self.conv_theta(x).flatten(2)  # [N, C', THW]
        x_kv = self.pool(x)
        phi = self.conv_phi(x_kv).flatten(2)  # [N, C', K]
        g = self.conv_g(x_kv).flatten(2)  # [N, C', K]

        affinity = torch.matmul(theta.transpose(1, 2), phi)  # [N, THW, K]
        if self.instantiation == 'softmax':
            affinity = (affinity * self.inner_channels**-0.5).softmax(dim=-1)
        else:  # dot_product
            affinity = affinity / affinity.shape[-1]
        y = torch.matmul(g, affinity.transpose(1, 2))  # [N, C', THW]
        y = y.view(n, self.inner_channels, t, h, w)
        return x + self.bn(self.conv_out(y))
