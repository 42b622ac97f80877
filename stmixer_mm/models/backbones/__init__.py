from .inference import fuse_conv_bn, prepare_for_inference
from .pyslowfast_nonlocal import PySlowFastNonLocal3d
from .resnet3d_slowfast_multilevel import ResNet3dSlowFastMultiLevel
from .vit_sdpa import FusedAttention, STMixerVisionTransformer

__all__ = [
    'PySlowFastNonLocal3d', 'ResNet3dSlowFastMultiLevel', 'FusedAttention',
    'STMixerVisionTransformer', 'fuse_conv_bn', 'prepare_for_inference'
]
