"""Initial queries and boxes of `STMixer <https://arxiv.org/abs/2303.15879>`_.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.registry import MODELS
from ..task_modules import xyxy2xyzr


@MODELS.register_module()
class STMixerQueryGenerator(BaseModule):
    """Learned initial queries and whole-frame initial boxes (the
    counterpart of mmdet's ``EmbeddingRPNHead``).

    - ``init_spatial_queries`` and ``init_temporal_queries``: two learned
      ``N x C`` tables (``nn.Embedding``, default N(0, 1) init), broadcast
      over the batch and passed through a parameter-free LayerNorm over
      ``C``.
    - The initial box of every query is the whole input frame of its sample
      (centre ``(W/2, H/2)``, size ``(W, H)`` from the sample's
      ``img_shape``), as xyzr, without gradient.

    Args:
        num_queries (int): ``N``. Defaults to 100.
        hidden_channels (int): ``C`` (injected by the detector from the
            decoder). Defaults to 256.
        with_temporal_queries (bool): Build the temporal table. False for
            decoders without a temporal branch (stage heads whose
            ``action_branches`` lack ``'temporal'``); :meth:`forward` then
            returns None as the temporal queries. Defaults to True.
        init_cfg (dict, optional): Must be None (the tables keep PyTorch's
            ``nn.Embedding`` initialisation).
    """

    def __init__(self,
                 num_queries: int = 100,
                 hidden_channels: int = 256,
                 with_temporal_queries: bool = True,
                 init_cfg: OptMultiConfig = None) -> None:
        assert init_cfg is None, \
            'STMixerQueryGenerator keeps the nn.Embedding initialisation'
        super().__init__(init_cfg=init_cfg)
        self.num_queries = num_queries
        self.hidden_channels = hidden_channels
        self.with_temporal_queries = with_temporal_queries
        self.init_spatial_queries = nn.Embedding(num_queries, hidden_channels)
        if with_temporal_queries:
            self.init_temporal_queries = nn.Embedding(num_queries,
                                                      hidden_channels)

    def init_boxes(self,
                   batch_img_metas: List[dict],
                   device: Optional[torch.device] = None) -> Tensor:
        """Whole-frame xyzr boxes ``[B, N, 4]`` from each ``img_shape``."""
        whs = [meta['img_shape'][:2][::-1] for meta in batch_img_metas]
        xyxy = torch.tensor([[0., 0., float(w), float(h)] for w, h in whs],
                            device=device)
        xyzr = xyxy2xyzr(xyxy)  # [B, 4]
        return xyzr[:, None, :].expand(-1, self.num_queries, -1).contiguous()

    def forward(
        self, batch_img_metas: List[dict]
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Initial boxes and queries of a batch.

        Args:
            batch_img_metas (list[dict]): One per clip, with ``img_shape``
                ``(H, W)`` of the network input (without padding).

        Returns:
            tuple[Tensor, Tensor, Tensor | None]: ``xyzr`` ``[B, N, 4]``,
            spatial queries ``[B, N, C]``, temporal queries ``[B, N, C]``
            (None when ``with_temporal_queries`` is False).
        """
        batch_size = len(batch_img_metas)
        weight = self.init_spatial_queries.weight
        xyzr = self.init_boxes(batch_img_metas, weight.device).to(weight.dtype)
        shape = (batch_size, self.num_queries, self.hidden_channels)
        spatial = F.layer_norm(
            self.init_spatial_queries.weight[None].expand(shape),
            (self.hidden_channels, ))
        if not self.with_temporal_queries:
            return xyzr, spatial, None
        temporal = F.layer_norm(
            self.init_temporal_queries.weight[None].expand(shape),
            (self.hidden_channels, ))
        return xyzr, spatial, temporal
