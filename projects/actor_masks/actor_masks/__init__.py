"""Actor masks on STMixer (``../README.md``): each detected person's
keyframe mask from its query. Importing it registers its parts
(``custom_imports`` of its configs does so)."""
from .actor_mask_metric import ActorMaskMetric
from .ava_masks import AVAMaskDataset, load_mask_file, run_lengths
from .mask_decoder import STMixerMaskDecoder
from .mask_head import STMixerMaskHead
from .puppet_masks import TubeMaskDataset, load_puppet_masks, puppet_masks_at
from .transforms import LoadActorMasks, PackActorInputs

__all__ = [
    'ActorMaskMetric', 'AVAMaskDataset', 'load_mask_file', 'run_lengths',
    'STMixerMaskDecoder', 'STMixerMaskHead', 'TubeMaskDataset',
    'load_puppet_masks', 'puppet_masks_at', 'LoadActorMasks', 'PackActorInputs'
]
