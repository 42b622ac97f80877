"""The non-local block of PySlowFast (``slowfast/models/nonlocal_helper.py``).

mmcv's ``NonLocal3d`` (what mmaction2's ``Bottleneck3d`` builds) and
PySlowFast's ``Nonlocal`` (what the official STMixer SlowFast-R101-NL uses)
share the idea of Wang et al., "Non-local Neural Networks" (CVPR 2018,
https://arxiv.org/abs/1711.07971), but compute different things from the
same weights:

=====================  ==============================  =====================
                       PySlowFast ``Nonlocal``         mmcv ``NonLocal3d``
=====================  ==============================  =====================
key/value pooling      max-pool ``x`` *before* phi/g,  max-pool *after* the
                       kernel = stride = ``pool_size``  phi/g convs, (1, 2, 2)
                       (official R101-NL: (2, 2, 2))
``dot_product``        divide by the number of keys    same (``use_scale``
                                                       off)
``softmax``            scale by ``inner ** -0.5``      ``embedded_gaussian``
conv biases            theta, phi, g and out           out has none (norm)
=====================  ==============================  =====================

:class:`PySlowFastNonLocal3d` is PySlowFast's computation with PySlowFast's
parameter names (``conv_theta``, ``conv_phi``, ``conv_g``, ``conv_out``,
``bn``), so official weights load without any change of value.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, constant_init, kaiming_init
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments

INSTANTIATIONS = ('dot_product', 'softmax')


@MODELS.register_module()
class PySlowFastNonLocal3d(BaseModule):
    """Non-local block computed as PySlowFast's ``Nonlocal``.

    For an input ``x`` ``[N, C, T, H, W]`` and ``C' = inner_channels``:

    1. ``theta = conv_theta(x)`` (1x1x1 conv with bias), ``[N, C', THW]``;
    2. ``x_kv = MaxPool3d(pool_size, stride=pool_size)(x)`` (no pooling when
       every entry of ``pool_size`` is 1), ``[N, C, T', H', W']``;
    3. ``phi = conv_phi(x_kv)``, ``g = conv_g(x_kv)``, ``[N, C', K]`` with
       ``K = T'H'W'`` keys;
    4. ``A = theta^T phi`` ``[N, THW, K]``, normalised by
       ``'dot_product'``: ``A / K``; ``'softmax'``:
       ``softmax(A * C' ** -0.5)`` over the keys;
    5. ``y = g A^T`` ``[N, C', T, H, W]``;
    6. ``out = x + bn(conv_out(y))`` (``conv_out`` with bias).

    Args:
        in_channels (int): Channels ``C`` of the input and output.
        inner_channels (int, optional): ``C'``. Defaults to
            ``in_channels // 2`` (PySlowFast's ``dim_inner``).
        pool_size (Sequence[int] | None): Max-pool kernel and stride
            ``(t, h, w)`` applied to ``x`` before ``phi`` and ``g``; ``None``
            or all ones for no pooling. Defaults to ``(2, 2, 2)`` (official
            SlowFast-R101-NL).
        instantiation (str): ``'dot_product'`` or ``'softmax'``. Defaults to
            ``'dot_product'``.
        norm_cfg (dict, optional): Norm after ``conv_out`` (kept under the
            name ``bn``); ``None`` for none. Defaults to PySlowFast's
            ``BatchNorm3d`` (eps 1e-5, momentum 0.1).
        zero_init (bool): Whether :meth:`init_weights` zero-initialises the
            norm's scale (PySlowFast ``ZERO_INIT_FINAL_BN``), so that a fresh
            block is the identity. Defaults to True.
        init_cfg (dict | list[dict], optional): mmengine initialisation
            config; when given it replaces :meth:`init_weights`'s default.
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
        check_arguments(PySlowFastNonLocal3d, locals())
        super().__init__(init_cfg=init_cfg)
        if instantiation not in INSTANTIATIONS:
            raise ValueError(f'instantiation must be one of {INSTANTIATIONS}, '
                             f'got {instantiation!r}')
        if inner_channels is None:
            inner_channels = in_channels // 2
        if in_channels <= 0 or inner_channels <= 0:
            raise ValueError(f'in_channels ({in_channels}) and inner_channels '
                             f'({inner_channels}) must be positive')
        if pool_size is not None:
            pool_size = tuple(int(s) for s in pool_size)
            if len(pool_size) != 3 or min(pool_size) < 1:
                raise ValueError('pool_size must be None or three positive '
                                 f'(t, h, w) sizes, got {pool_size}')
            if all(s == 1 for s in pool_size):
                pool_size = None
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
        """PySlowFast's initialisation: convs MSRA-filled (fan out, zero
        bias), norm scale 1 (0 with ``zero_init``) and shift 0."""
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
        """Apply the block.

        Args:
            x (Tensor): ``[N, C, T, H, W]``.

        Returns:
            Tensor: ``[N, C, T, H, W]``, ``x`` plus the non-local response.
        """
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects [N, {self.in_channels}, T, H, '
                f'W], got {tuple(x.shape)}')
        n, _, t, h, w = x.shape
        if self.pool_size is not None and any(
                size < k for size, k in zip((t, h, w), self.pool_size)):
            raise ValueError(
                f'input (T, H, W) = {(t, h, w)} is smaller than the key/value '
                f'pooling kernel {self.pool_size}')
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
