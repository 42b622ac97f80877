"""Initial queries and boxes of `STMixer <https://arxiv.org/abs/2303.15879>`_.
"""
from typing import Optional, Sequence

import torch.nn as nn
import torch.nn.functional as F
from mmdet.structures import SampleList
from mmdet.utils import InstanceList, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments
from ..utils.host_data import host_tensor


@MODELS.register_module()
class STMixerQueryGenerator(BaseModule):
    """Learned initial queries and whole-frame initial boxes, with the
    contract of mmdet's RPN heads (the counterpart of ``EmbeddingRPNHead``,
    which also works in its place for a decoder without temporal branch).

    - ``init_spatial_queries`` and ``init_temporal_queries``: two learned
      ``N x C`` tables (``nn.Embedding``, default N(0, 1) init), passed
      through a parameter-free LayerNorm over ``C``.
    - The initial box of every query is the whole input frame of its sample
      (from its ``img_shape``), without gradient.

    :meth:`predict` and :meth:`loss_and_predict` give per sample an
    ``InstanceData`` with

    - ``bboxes`` ``[N, 4]``: xyxy pixels, the whole frame ``(0, 0, W, H)``;
    - ``imgs_whwh`` ``[N, 4]``: ``(W, H, W, H)``;
    - ``features`` ``[N, C]``: the spatial queries (the name mmdet's
      ``EmbeddingRPNHead`` and ``SparseRoIHead`` use);
    - ``temporal_features`` ``[N, C]``: the temporal queries (only with
      ``with_temporal_queries``).

    Args:
        num_queries (int): ``N``. Defaults to 100.
        hidden_channels (int): ``C`` (filled in by the detector from the
            decoder). Defaults to 256.
        with_temporal_queries (bool): Build the temporal table. False for
            decoders without a temporal branch (stage heads whose
            ``action_branches`` lack ``'temporal'``; filled in by the
            detector). Defaults to True.
        num_classes (int, optional): Only for mmdet's two-stage detectors,
            which give their RPN head ``num_classes=1``; must be None or 1.
        train_cfg (dict, optional): Must be None (nothing to train
            against: the queries learn through the decoder's losses).
        test_cfg (dict, optional): Must be None (no post-processing).
        init_cfg (dict, optional): Must be None (the tables keep PyTorch's
            ``nn.Embedding`` initialisation).
    """

    def __init__(self,
                 num_queries: int = 100,
                 hidden_channels: int = 256,
                 with_temporal_queries: bool = True,
                 num_classes: Optional[int] = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        check_arguments(STMixerQueryGenerator, locals())
        for name, value in (('init_cfg', init_cfg), ('train_cfg', train_cfg),
                            ('test_cfg', test_cfg)):
            if value is not None:
                raise ValueError(
                    f'STMixerQueryGenerator takes no {name} (the query tables '
                    'keep the nn.Embedding initialisation and learn through '
                    f'the decoder), got {value}')
        if num_classes not in (None, 1):
            raise ValueError('STMixerQueryGenerator proposes class-agnostic '
                             f'queries: num_classes must be 1, got '
                             f'{num_classes}')
        super().__init__(init_cfg=init_cfg)
        self.num_queries = num_queries
        self.hidden_channels = hidden_channels
        self.with_temporal_queries = with_temporal_queries
        self.init_spatial_queries = nn.Embedding(num_queries, hidden_channels)
        if with_temporal_queries:
            self.init_temporal_queries = nn.Embedding(num_queries,
                                                      hidden_channels)

    def init_boxes(self, img_shape: Sequence[int], ref: Tensor) -> Tensor:
        """Whole-frame xyxy boxes ``[N, 4]`` of a frame ``(H, W)``."""
        h, w = img_shape[:2]
        box = host_tensor([0., 0., float(w), float(h)], ref.device)
        return box.to(ref.dtype).expand(self.num_queries, 4)

    def _queries(self, table: nn.Embedding) -> Tensor:
        return F.layer_norm(table.weight, (self.hidden_channels, ))

    def predict(self, x: Sequence[Tensor], batch_data_samples: SampleList,
                **kwargs) -> InstanceList:
        """Initial boxes and queries of a batch.

        Args:
            x (Sequence[Tensor]): The pyramid (only its device and dtype are
                used).
            batch_data_samples (list): One per clip, with metainfo
                ``img_shape`` ``(H, W)`` of the network input (without
                padding).
            **kwargs: Ignored (mmdet passes ``rescale`` / ``proposal_cfg``).

        Returns:
            list[InstanceData]: See the class docstring.
        """
        weight = self.init_spatial_queries.weight
        spatial = self._queries(self.init_spatial_queries)
        temporal = self._queries(self.init_temporal_queries) \
            if self.with_temporal_queries else None
        results = []
        for sample in batch_data_samples:
            bboxes = self.init_boxes(sample.metainfo['img_shape'], weight)
            res = InstanceData(
                bboxes=bboxes,
                imgs_whwh=bboxes[:, 2:].repeat(1, 2),
                features=spatial)
            if temporal is not None:
                res.temporal_features = temporal
            results.append(res)
        return results

    def loss_and_predict(self, x: Sequence[Tensor],
                         batch_data_samples: SampleList, **kwargs) -> tuple:
        """``({}, results)``: no loss of its own, see :meth:`predict`."""
        return dict(), self.predict(x, batch_data_samples)

    def loss(self, *args, **kwargs) -> None:
        """Not available, as for mmdet's ``EmbeddingRPNHead``."""
        raise NotImplementedError(
            'STMixerQueryGenerator has no loss of its own; use predict or '
            'loss_and_predict')
