"""Layer normalisation over the channel axis of channels-first feature maps."""
import torch
import torch.nn as nn
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_ints, check_range


@MODELS.register_module()
class ChannelLayerNorm3d(nn.Module):
    """LayerNorm across ``C`` of ``[B, C, *]`` (biased variance), then
    per-channel ``weight`` / ``bias``: the STMixer ViT neck's.

    Args:
        num_features (int): Number of channels ``C`` (> 0).
        eps (float): Added to the variance, a finite number > 0 (a config
            without it: mmcv's 1e-5).
    """

    def __init__(self, num_features: int, eps: float = 1e-6) -> None:
        check_ints('ChannelLayerNorm3d', num_features=num_features)
        check_range('ChannelLayerNorm3d', '(0, inf)', eps=eps)
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape ``[B, C, *]`` over ``C``."""
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        var = centred.pow(2).mean(dim=1, keepdim=True)
        x = centred / torch.sqrt(var + self.eps)
        param_shape = (1, -1) + (1, ) * (x.dim() - 2)
        return x * self.weight.view(param_shape) + self.bias.view(param_shape)

    def extra_repr(self) -> str:
        return f'{self.num_features}, eps={self.eps}'
