from .inference import (OneDNNConv3d, fuse_conv_module_bn, native_conv3d,
                        prepare_for_inference, set_conv3d_impl,
                        use_onednn_conv3d)
from .pyslowfast_nonlocal import PySlowFastNonLocal3d
from .resnet3d_slowfast_multilevel import ResNet3dSlowFastMultiLevel
from .resnet3d_slowonly import STMixerResNet3dSlowOnly
from .vit_sdpa import FusedAttention, STMixerVisionTransformer

__all__ = [
    'PySlowFastNonLocal3d', 'ResNet3dSlowFastMultiLevel', 'FusedAttention',
    'STMixerVisionTransformer', 'STMixerResNet3dSlowOnly', 'OneDNNConv3d',
    'fuse_conv_module_bn', 'native_conv3d', 'prepare_for_inference',
    'set_conv3d_impl', 'use_onednn_conv3d'
]
