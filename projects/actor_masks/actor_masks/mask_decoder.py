"""The STMixer decoder with an actor mask head on its last stage."""
from stmixer_mm.models.roi_heads import STMixerHeadsDecoder
from stmixer_mm.registry import MODELS


@MODELS.register_module()
class STMixerMaskDecoder(STMixerHeadsDecoder):
    """``STMixerHeadsDecoder`` whose task heads take ``mask_head``
    (``STMixerMaskHead``): it learns from the last stage's Hungarian matches
    (``gt_instances.masks``) and predicts each kept detection's keyframe
    mask (``pred_instances.masks``, bool ``(n, h, w)``).

    Args:
        *args: Those of ``STMixerHeadsDecoder``.
        mask_head (dict, optional): ``STMixerMaskHead``. Defaults to None.
        **kwargs: Those of ``STMixerHeadsDecoder``.
    """

    head_names = STMixerHeadsDecoder.head_names + ('mask_head', )

    @property
    def with_mask(self) -> bool:
        """Whether there is a ``mask_head``."""
        return self.mask_head is not None
