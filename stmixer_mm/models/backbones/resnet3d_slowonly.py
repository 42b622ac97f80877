"""mmaction2's ``ResNet3dSlowOnly`` with oneDNN 3-D convolutions at
inference."""
from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice
from .inference import CONV3D_IMPLS, set_conv3d_impl

_BASE = MODELS.get('mmaction.ResNet3dSlowOnly')


@MODELS.register_module()
class STMixerResNet3dSlowOnly(_BASE):
    """mmaction2's ``ResNet3dSlowOnly`` (same arguments, parameters and keys:
    mmaction2 and converted official checkpoints load unchanged) whose 3-D
    convolutions run oneDNN at CPU float32 inference.

    Args:
        *args: As mmaction2's ``ResNet3dSlowOnly``.
        conv3d_impl (str): ``'onednn'`` (:mod:`.inference`) or ``'native'``.
        **kwargs: As mmaction2's ``ResNet3dSlowOnly``.
    """

    def __init__(self, *args, conv3d_impl: str = 'onednn', **kwargs) -> None:
        check_choice(
            'STMixerResNet3dSlowOnly', CONV3D_IMPLS, conv3d_impl=conv3d_impl)
        super().__init__(*args, **kwargs)
        self.conv3d_impl = conv3d_impl
        set_conv3d_impl(self, conv3d_impl)
