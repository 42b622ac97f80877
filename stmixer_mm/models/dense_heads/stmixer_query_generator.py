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
from stmixer_mm.utils.checks import check_choice, check_ints
from ..utils.host_data import host_tensor


@MODELS.register_module()
class STMixerQueryGenerator(BaseModule):
    """Learned initial queries and whole-frame boxes, as mmdet's
    ``EmbeddingRPNHead`` (which works in its place without temporal branch).

    Queries: ``N x C`` ``nn.Embedding`` tables through a parameter-free
    LayerNorm. Per sample: ``bboxes`` ``[N, 4]`` (the whole frame),
    ``imgs_whwh``, ``features`` (spatial queries), ``temporal_features``.

    Args:
        num_queries (int): ``N``. Defaults to 100.
        hidden_channels (int): ``C`` (filled in). Defaults to 256.
        with_temporal_queries (bool): Build the temporal table (filled in).
        num_classes (int, optional): Not read (mmdet's two-stage detectors
            set 1): the queries are class-agnostic.
        train_cfg (dict, optional): Not read (no loss of its own).
        test_cfg (dict, optional): Not read.
        init_cfg (dict, optional): mmengine's initialisation of the query
            tables. Defaults to None (``nn.Embedding``'s).
    """

    def __init__(self,
                 num_queries: int = 100,
                 hidden_channels: int = 256,
                 with_temporal_queries: bool = True,
                 num_classes: Optional[int] = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        sizes = dict(num_queries=num_queries, hidden_channels=hidden_channels)
        check_ints('STMixerQueryGenerator', **sizes)
        temporal = dict(with_temporal_queries=with_temporal_queries)
        check_choice('STMixerQueryGenerator', (True, False), **temporal)
        super().__init__(init_cfg=init_cfg)
        self.num_queries = num_queries
        self.hidden_channels = hidden_channels
        self.with_temporal_queries = with_temporal_queries
        self.init_spatial_queries = nn.Embedding(num_queries, hidden_channels)
        if with_temporal_queries:
            self.init_temporal_queries = nn.Embedding(num_queries,
                                                      hidden_channels)

    def _queries(self, table: nn.Embedding) -> Tensor:
        return F.layer_norm(table.weight, (self.hidden_channels, ))

    def predict(self, x: Sequence[Tensor], batch_data_samples: SampleList,
                **kwargs) -> InstanceList:
        """Initial boxes (from each un-padded ``img_shape``) and queries;
        ``x`` and ``kwargs`` (mmdet's ``rescale``...) are not read.

        Args:
            x (Sequence[Tensor]): The pyramid (not read).
            batch_data_samples (list[:obj:`DetDataSample`]): One per clip,
                with metainfo ``img_shape`` ``(H, W)`` of the network input
                without padding.
            **kwargs: Not read (mmdet passes ``rescale`` /
                ``proposal_cfg``).

        Returns:
            list[:obj:`InstanceData`]: One per clip (``N`` queries, ``C``
            channels, the tables' device and dtype):

            - bboxes (Tensor): ``(N, 4)``, xyxy whole-frame boxes in pixels
              of the input.
            - imgs_whwh (Tensor): ``(N, 4)``, ``(W, H, W, H)`` per row.
            - features (Tensor): ``(N, C)``, the spatial queries (the same
              tensor for every clip).
            - temporal_features (Tensor): ``(N, C)``, the temporal queries;
              only with ``with_temporal_queries``.
        """
        weight = self.init_spatial_queries.weight
        queries = dict(features=self._queries(self.init_spatial_queries))
        if self.with_temporal_queries:
            queries['temporal_features'] = self._queries(
                self.init_temporal_queries)
        results = []
        for sample in batch_data_samples:
            h, w = sample.metainfo['img_shape'][:2]  # whole-frame boxes
            box = host_tensor([0., 0., float(w), float(h)], weight.device)
            bboxes = box.to(weight.dtype).expand(self.num_queries, 4)
            results.append(
                InstanceData(
                    bboxes=bboxes,
                    imgs_whwh=bboxes[:, 2:].repeat(1, 2),
                    **queries))
        return results

    def loss_and_predict(self, x: Sequence[Tensor],
                         batch_data_samples: SampleList, **kwargs) -> tuple:
        """``({}, results)``: no loss of its own, see :meth:`predict`.

        Args:
            x (Sequence[Tensor]): The pyramid (not read).
            batch_data_samples (list[:obj:`DetDataSample`]): As in
                :meth:`predict`.
            **kwargs: Not read (mmdet passes ``proposal_cfg``).

        Returns:
            tuple: ``(dict(), results)``, ``results`` the list of
            :meth:`predict`.
        """
        return dict(), self.predict(x, batch_data_samples)

    def loss(self, *args, **kwargs) -> None:
        """Not available, as for mmdet's ``EmbeddingRPNHead``: raises
        NotImplementedError.

        Args:
            *args: Not read.
            **kwargs: Not read.
        """
        raise NotImplementedError('STMixerQueryGenerator has no loss')
