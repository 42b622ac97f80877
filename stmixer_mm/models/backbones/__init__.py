from .resnet3d_slowfast_multilevel import ResNet3dSlowFastMultiLevel

__all__ = ['ResNet3dSlowFastMultiLevel']
