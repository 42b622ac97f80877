from .pyslowfast_nonlocal import PySlowFastNonLocal3d
from .resnet3d_slowfast_multilevel import ResNet3dSlowFastMultiLevel

__all__ = ['PySlowFastNonLocal3d', 'ResNet3dSlowFastMultiLevel']
