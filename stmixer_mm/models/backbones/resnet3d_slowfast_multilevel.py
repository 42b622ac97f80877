"""SlowFast backbone returning one fused map per ResNet stage."""
import copy
import inspect
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.models.backbones.resnet3d_slowfast import ResNet3dSlowFast
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice, check_choices, check_multiple
from .inference import CONV3D_IMPLS, set_conv3d_impl

FRAME_SAMPLINGS = ('nearest', 'linspace')
_PARENT_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(
        ResNet3dSlowFast.__init__).parameters.items()
    if name in ('slow_pathway', 'fast_pathway')
}


@MODELS.register_module()
class ResNet3dSlowFastMultiLevel(ResNet3dSlowFast):
    """mmaction2's SlowFast returning, per stage in ``out_indices``, the slow
    map concatenated with the fast map max-pooled over time by ``speed_ratio``,
    both before the lateral fusion (as the official STMixer SlowFast), so
    mmaction2 checkpoints load unchanged (R50 :attr:`out_channels` ``[288, 576,
    1152, 2304]``). ``speed_ratio``, ``channel_ratio``, ``resample_rate``:
    alpha, 1/beta, tau (R50: 4, 8, 4).
    A pathway ``non_local_cfg`` with a ``type`` (e.g. the official R101-NL's
    ``'PySlowFastNonLocal3d'``) replaces mmcv's ``NonLocal3d`` of marked
    blocks, after the residual sum and ReLU (PySlowFast's ``ResStage``).

    Args:
        out_indices (Sequence[int]): Stages returned (later ones not run).
        frame_sampling (str): ``'nearest'`` (mmaction2, default): frames
            ``0, r, 2r, ...``; ``'linspace'`` (PySlowFast / official STMixer).
        conv3d_impl (str): ``'onednn'`` (:mod:`.inference`) or ``'native'``.
        **kwargs: Arguments of ``ResNet3dSlowFast`` (pathway dicts copied).
    """

    def __init__(self,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frame_sampling: str = 'nearest',
                 conv3d_impl: str = 'onednn',
                 **kwargs) -> None:
        name = 'ResNet3dSlowFastMultiLevel'
        check_choice(name, FRAME_SAMPLINGS, frame_sampling=frame_sampling)
        check_choice(name, CONV3D_IMPLS, conv3d_impl=conv3d_impl)
        non_local_cfgs = {}
        for key, default in _PARENT_DEFAULTS.items():
            kwargs[key] = copy.deepcopy(kwargs.get(key, default))
            cfg = kwargs[key].get('non_local_cfg')
            if isinstance(cfg, dict) and 'type' in cfg:
                # mmcv's NonLocal3d (built by Bottleneck3d, cheap) stands in
                # until the blocks are swapped below
                non_local_cfgs[key] = kwargs[key].pop('non_local_cfg')
        super().__init__(**kwargs)
        self._custom_non_local: List[nn.Module] = []  # build order
        for key, cfg in non_local_cfgs.items():
            pathway = self.slow_path if key == 'slow_pathway' else \
                self.fast_path
            self._swap_non_local_blocks(pathway, cfg, key)
        ratio = ('speed_ratio', self.speed_ratio)  # (else unequal T)
        check_multiple(name, ratio, resample_rate=self.resample_rate)
        stages = tuple(range(len(self.slow_path.res_layers)))
        check_choices(name, stages, out_indices=out_indices)
        out_indices = tuple(out_indices)
        self.out_indices = out_indices
        self.frame_sampling = frame_sampling
        self.fast_pool = nn.MaxPool3d(
            kernel_size=(self.speed_ratio, 1, 1),
            stride=(self.speed_ratio, 1, 1))
        self.out_channels = [
            self._stage_channels(self.slow_path, i) +
            self._stage_channels(self.fast_path, i) for i in out_indices
        ]
        self.conv3d_impl = conv3d_impl
        set_conv3d_impl(self, conv3d_impl)

    def _swap_non_local_blocks(self, pathway: nn.Module, cfg: dict,
                               name: str) -> None:
        """Build ``cfg`` as every marked block's non-local block."""
        num_swapped = 0
        for layer_name in pathway.res_layers:
            for block in getattr(pathway, layer_name):
                if not getattr(block, 'non_local', False):
                    continue
                channels = block.non_local_block.in_channels
                block.non_local_block = MODELS.build(
                    dict(copy.deepcopy(cfg), in_channels=channels))
                self._custom_non_local.append(block.non_local_block)
                num_swapped += 1
        if not num_swapped:  # the config would be silently unused
            raise ValueError(f'{type(self).__name__}: {name}.non_local marks '
                             f'no block for its non_local_cfg {cfg}')

    def init_weights(self, pretrained: Optional[str] = None) -> None:
        """mmaction2's initialisation, then the swapped non-local blocks' own
        (undone by mmaction2); nothing after a ``pretrained`` checkpoint."""
        super().init_weights(pretrained)
        if pretrained or self.pretrained:
            return
        for module in self._custom_non_local:
            module.init_weights()

    @staticmethod
    def _stage_channels(pathway: nn.Module, stage: int) -> int:
        return pathway.base_channels * 2**stage * pathway.block.expansion

    def _sample(self, x: Tensor, rate: int) -> Tensor:
        """Keep one frame in ``rate`` of ``x`` ``[B, C, T, H, W]``."""
        if self.frame_sampling == 'nearest':
            return F.interpolate(
                x, mode='nearest', scale_factor=(1.0 / rate, 1.0, 1.0))
        num_frames = x.shape[2]
        # computed on the CPU, like PySlowFast's data loader does
        index = torch.linspace(0, num_frames - 1,
                               num_frames // rate).long().to(x.device)
        return x.index_select(2, index)

    @staticmethod
    def _fuse(x_slow: Tensor, x_fast: Tensor,
              lateral: Optional[nn.Module]) -> Tensor:
        """Fast-to-slow lateral connection (identity when absent)."""
        if lateral is None:
            return x_slow
        return torch.cat((x_slow, lateral(x_fast)), dim=1)

    def _lateral(self, name: str) -> Optional[nn.Module]:
        if not self.slow_path.lateral:
            return None
        return getattr(self.slow_path, name, None)

    def _level_map(self, x_slow: Tensor, x_fast: Tensor) -> Tensor:
        return torch.cat((x_slow, self.fast_pool(x_fast)), dim=1)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Per ``out_indices`` entry ``[B, out_channels[k], T / tau, H / s, W
        / s]`` of a clip ``[B, 3, T, H, W]``."""
        x_slow = self._sample(x, self.resample_rate)
        x_fast = self._sample(x, self.resample_rate // self.speed_ratio)
        x_slow = self.slow_path.maxpool(self.slow_path.conv1(x_slow))
        x_fast = self.fast_path.maxpool(self.fast_path.conv1(x_fast))
        x_slow = self._fuse(x_slow, x_fast, self._lateral('conv1_lateral'))

        outs = []
        last_out = max(self.out_indices)
        for i, layer_name in enumerate(self.slow_path.res_layers):
            x_slow = getattr(self.slow_path, layer_name)(x_slow)
            x_fast = getattr(self.fast_path, layer_name)(x_fast)
            if i in self.out_indices:
                outs.append(self._level_map(x_slow, x_fast))
            if i == last_out:
                break  # later stages would not reach any output
            x_slow = self._fuse(x_slow, x_fast,
                                self._lateral(f'layer{i + 1}_lateral'))
        return tuple(outs)
