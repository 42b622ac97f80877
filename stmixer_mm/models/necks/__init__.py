from .bifpn import BiFPN3d
from .channel_layer_norm import ChannelLayerNorm3d
from .frame_wise_neck import (FrameWiseNeck, frame_wise_2d_necks, is_2d_neck,
                              run_neck)
from .lateral_neck import STMixerLateralNeck
from .sequential_neck import SequentialNeck
from .vit_pyramid_neck import STMixerViTNeck

__all__ = [
    'BiFPN3d', 'ChannelLayerNorm3d', 'STMixerViTNeck', 'STMixerLateralNeck',
    'FrameWiseNeck', 'SequentialNeck', 'frame_wise_2d_necks', 'is_2d_neck',
    'run_neck'
]
