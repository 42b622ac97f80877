"""MOTR's query interaction module (Zeng et al., ECCV 2022) for STMixer's two
query sets: updates the carried queries before keyframe ``k + 1``. Output
projections start at zero: the block starts as the identity."""
from typing import Optional, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.models.task_modules import box_position_embedding
from stmixer_mm.registry import MODELS


class _Branch(nn.Module):
    """Pre-norm self-attention over the carried queries (with the box
    position embedding added to queries and keys) then a pre-norm FFN; both
    residual, both output projections zero at initialisation."""

    def __init__(self, channels: int, num_heads: int, ffn_channels: int,
                 dropout: float) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(
            channels, num_heads, dropout=dropout, batch_first=True)
        self.norm_ffn = nn.LayerNorm(channels)
        self.ffn = nn.Sequential(
            nn.Linear(channels, ffn_channels), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(ffn_channels, channels))
        self.dropout = nn.Dropout(dropout)
        self.reset_output()

    def reset_output(self) -> None:
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)
        nn.init.zeros_(self.ffn[-1].weight)
        nn.init.zeros_(self.ffn[-1].bias)

    def forward(self, query: Tensor, pe: Tensor) -> Tensor:
        x = self.norm_attn(query)
        qk = x + pe
        query = query + self.dropout(
            self.attn(qk, qk, x, need_weights=False)[0])
        return query + self.dropout(self.ffn(self.norm_ffn(query)))


@MODELS.register_module()
class QueryInteractionBlock(BaseModule):
    """Updates the carried (track) queries before the next keyframe.

    Args:
        hidden_channels (int): Query channels ``C`` (the decoder's).
        num_heads (int): Attention heads.
        feedforward_channels (int): FFN hidden channels (None: ``4 * C``).
        with_temporal (bool): Whether there are temporal queries (updated by
            a branch of their own).
        dropout (float): Dropout of attention and FFN.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 hidden_channels: int = 256,
                 num_heads: int = 8,
                 feedforward_channels: Optional[int] = None,
                 with_temporal: bool = True,
                 dropout: float = 0.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('hidden_channels', hidden_channels), ('num_heads',
                                                                   num_heads),
                            ('feedforward_channels', feedforward_channels
                             or 1)):
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value < 1:
                raise ValueError(f'QueryInteractionBlock: {name} must be a '
                                 f'positive int, got {value!r}')
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError('QueryInteractionBlock: dropout must be a number '
                             f'in [0, 1), got {dropout!r}')
        if hidden_channels % num_heads or hidden_channels % 4:
            raise ValueError(
                f'QueryInteractionBlock: hidden_channels={hidden_channels} '
                f'must be divisible by num_heads={num_heads} and by 4 (the '
                'box position embedding)')
        ffn = feedforward_channels or 4 * hidden_channels
        self.hidden_channels = hidden_channels
        self.with_temporal = with_temporal
        self.spatial = _Branch(hidden_channels, num_heads, ffn, dropout)
        self.temporal = _Branch(hidden_channels, num_heads, ffn,
                                dropout) if with_temporal else None

    def init_weights(self) -> None:
        """``init_cfg`` if any, then the output projections back to zero
        (the block starts as the identity)."""
        super().init_weights()
        for branch in (self.spatial, self.temporal):
            if branch is not None:
                branch.reset_output()

    def forward(self, spatial: Tensor, temporal: Optional[Tensor],
                xyzr: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Update ``M`` carried queries of one video; returns the updated
        ``(spatial, temporal)``.

        Args:
            spatial (Tensor): ``[B, M, C]`` spatial queries.
            temporal (Tensor, optional): ``[B, M, C]``, iff ``with_temporal``.
            xyzr (Tensor): ``[B, M, 4]`` boxes (no gradient through the PE).
        """
        if (temporal is not None) != self.with_temporal:
            raise ValueError(
                f'QueryInteractionBlock(with_temporal={self.with_temporal}) '
                'got ' + ('temporal queries'
                          if temporal is not None else 'no temporal queries'))
        if spatial.size(1) == 0:
            return spatial, temporal
        pe = box_position_embedding(xyzr.detach(), self.hidden_channels //
                                    4).to(spatial.dtype)
        spatial = self.spatial(spatial, pe)
        if temporal is not None:
            temporal = self.temporal(temporal, pe)
        return spatial, temporal
