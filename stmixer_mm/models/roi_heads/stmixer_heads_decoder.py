"""The STMixer decoder with task heads on its last stage: the extension point
of the heads that read the decoded queries (a project's: the mask head of
``projects/actor_masks/``, the forecast head of ``projects/forecasting/``)."""
from typing import Dict, Optional, Sequence

from mmdet.structures import SampleList
from mmdet.utils import InstanceList
from torch import Tensor

from stmixer_mm.registry import MODELS
from .stmixer_decoder import STMixerDecoder

#: ``{graph output name: task head class}`` of the heads whose outputs an
#: ONNX export can carry (see :class:`STMixerHeadsDecoder`), filled by the
#: modules that define them (a project's when imported)
EXPORT_HEADS: Dict[str, type] = {}


@MODELS.register_module()
class STMixerHeadsDecoder(STMixerDecoder):
    """:class:`STMixerDecoder` with task heads reading the last stage's
    queries: they learn from its Hungarian matches and predict for its kept
    detections.

    The heads are the keyword arguments named by :attr:`head_names` (none
    here; a project's subclass adds its own, as ``projects/actor_masks/``
    adds ``mask_head``), each a config or None. A task head's class gives:

    - ``config_from(cfg, decoder) -> dict``: its config with the decoder's
      settings filled in (called before it is built);
    - ``loss_and_target(x, stage_results, assign_results,
      batch_gt_instances, batch_img_metas, prefix) -> dict``: its losses on
      the last stage's matches;
    - ``predict_by_feat(x, stage_results, results, batch_img_metas)``: its
      fields added to the kept detections ``results`` (which carry
      ``query_indices``), in place.

    A head whose output an ONNX export can carry also names it
    (``export_output``, a class attribute) and gives ``export_forward(x,
    stage_results) -> Tensor [B, N, ...]`` (every query's raw output),
    ``export_meta() -> dict`` (the settings its post-processing reads) and
    ``postprocess_export(values, meta) -> dict`` (static: numpy, the kept
    queries' ``values`` to their detection fields ``export_fields``, as
    its ``predict_by_feat``), with ``export_tolerance`` (the share of a
    field's elements that may differ from ``predict``); its class is listed
    in :data:`EXPORT_HEADS` under that name.

    Args:
        *args: Those of :class:`STMixerDecoder`.
        **kwargs: Those of :class:`STMixerDecoder`.
    """

    #: the keyword arguments that are task heads, in the order they run
    head_names = ()

    def __init__(self, *args, **kwargs) -> None:
        cfgs = {name: kwargs.pop(name, None) for name in self.head_names}
        super().__init__(*args, **kwargs)
        # built last: the stages and assigners keep their seeded init
        for name, cfg in cfgs.items():
            if cfg is not None:
                kind = MODELS.get(cfg['type']) if isinstance(
                    cfg['type'], str) else cfg['type']
                cfg = getattr(kind, 'config_from', lambda c, d: c)(cfg, self)
            setattr(self, name, None if cfg is None else MODELS.build(cfg))

    @property
    def task_heads(self) -> Dict[str, object]:
        """``{name: head}`` of the heads the decoder has, in running order."""
        return {
            name: getattr(self, name)
            for name in self.head_names if getattr(self, name) is not None
        }

    def loss(self, x: Sequence[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """The stages' losses (:meth:`STMixerDecoder.loss`) and the heads'
        on the last stage's matches.

        Args:
            x (Sequence[Tensor]): The pyramid.
            rpn_results_list (list[:obj:`InstanceData`]): The query
                generator's results.
            batch_data_samples (list[:obj:`DetDataSample`]): As
                :meth:`STMixerDecoder.loss` reads them, their
                ``gt_instances`` also with the fields the heads train on.

        Returns:
            dict[str, Tensor]: The stages' losses and each head's, prefixed
            ``s{last}.``.
        """
        losses, last = self.stage_losses(x, rpn_results_list,
                                         batch_data_samples)
        prefix = f's{self.num_stages - 1}.'
        for head in self.task_heads.values():
            losses.update(head.loss_and_target(x, *last, prefix))
        return losses

    def predict_by_feat(self,
                        last: Dict[str, Tensor],
                        batch_data_samples: SampleList,
                        rescale: bool = False,
                        x: Optional[Sequence[Tensor]] = None) -> InstanceList:
        """The detections of :meth:`STMixerDecoder.predict_by_feat` with the
        heads' predictions for them.

        Args:
            last (dict[str, Tensor]): The last stage's outputs.
            batch_data_samples (list[:obj:`DetDataSample`]): Per sample,
                metainfo ``img_shape`` (and what the heads read).
            rescale (bool): ``'mmdet'`` only. Defaults to False.
            x (Sequence[Tensor], optional): The pyramid, read by the heads.

        Returns:
            list[:obj:`InstanceData`]: Per sample, the detections with each
            head's fields.
        """
        metas = [data_sample.metainfo for data_sample in batch_data_samples]
        results = self.stages[-1].predict_by_feat(last, metas, self.test_cfg,
                                                  rescale)
        for head in self.task_heads.values():
            head.predict_by_feat(x, last, results, metas)
        for res in results:  # the query indices are read by the heads only
            del res.query_indices
        return results
