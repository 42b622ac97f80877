"""Sharded (FSDP) training with mmengine's FlexibleRunner, also on CPU
(docs/en/large_backbones.md): mmengine 0.10.7's ``FSDPStrategy`` with param
groups built on the unwrapped model (flat shards would mis-group layer-wise
LR decay), ``clip_grad`` over all shards, checkpointing by class names."""
import copy
import os
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine._strategy import FSDPStrategy
from mmengine.device import get_device
from mmengine.model import BaseDataPreprocessor, is_model_wrapper
from mmengine.optim import BaseOptimWrapper, OptimWrapper, build_optim_wrapper

from stmixer_mm.registry import FUNCTIONS, MODEL_WRAPPERS, STRATEGIES
from stmixer_mm.utils.checks import check_choice
from .sharded_checkpoint import (DCP_METADATA, EXTRA_FILE,
                                 ShardedCheckpointMixin, full_to_sharded,
                                 is_sharded_checkpoint, sharded_to_full)

__all__ = [
    'ShardedStrategy', 'stmixer_vit_block_wrap_policy',
    'is_sharded_checkpoint', 'sharded_to_full', 'full_to_sharded',
    'clean_param_name', 'DCP_METADATA', 'EXTRA_FILE'
]

#: name prefixes FSDP and the checkpoint wrapper add to parameter names
WRAPPER_PREFIXES = ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.')


def clean_param_name(name: str) -> str:
    """A parameter name without FSDP / checkpoint-wrapper prefixes."""
    for prefix in WRAPPER_PREFIXES:
        name = name.replace(prefix, '')
    return name


def _class_names(value) -> bool:
    """A list or tuple of class names (a string would be read as its
    characters)."""
    return not isinstance(value, str) and all(
        isinstance(c, str) for c in value)


@FUNCTIONS.register_module()
def stmixer_vit_block_wrap_policy(module: nn.Module,
                                  recurse: bool,
                                  nonwrapped_numel: int,
                                  classes: Sequence[str] = ('Block', )):
    """FSDP auto-wrap policy: one FSDP unit per ViT block (matched by
    class name in ``classes``), so at most a block or two are unsharded at a
    time; the rest of the model is the root unit.

    Args:
        module (nn.Module): The module FSDP asks about.
        recurse (bool): FSDP asks whether to look into its children.
        nonwrapped_numel (int): Its parameters not yet wrapped (unused).
        classes (Sequence[str]): Class names of the units. Defaults to
            ``('Block', )``.

    Returns:
        bool: With ``recurse``: True (always look in); else whether
        ``module`` is its own unit.
    """
    if not _class_names(classes):
        raise TypeError('stmixer_vit_block_wrap_policy: classes must be a '
                        f'list of module class names, got {classes!r}')
    if recurse:
        return True
    return type(module).__name__ in tuple(classes)


@STRATEGIES.register_module()
class ShardedStrategy(ShardedCheckpointMixin, FSDPStrategy):
    """mmengine's FSDP strategy, usable on CPU and with STMixer's configs.

    Keyword Args:
        model_wrapper (dict, optional): Arguments of mmengine's
            ``MMFullyShardedDataParallel``; ``use_orig_params`` must stay True.
        state_dict_cfg (str): ``'full'`` (one file, rank 0) or
            ``'sharded'`` (one folder, every rank writes its shards).
        activation_checkpointing (list[str] | dict, optional): Class names
            of the modules to checkpoint, or mmengine's dict form.
        mixed_precision_modules (list[str], optional): Class names of the
            modules computing in ``model_wrapper.mixed_precision`` (e.g.
            ``['Block']``), each its own FSDP unit returning fp32; the rest
            stays fp32. Default: the whole model (mmengine's behaviour).
        **kwargs: The rest of :class:`FSDPStrategy`'s arguments.
    """

    def __init__(self,
                 *,
                 state_dict_cfg: str = 'full',
                 activation_checkpointing: Union[Sequence[str], dict,
                                                 None] = None,
                 mixed_precision_modules: Optional[Sequence[str]] = None,
                 **kwargs):
        check_choice(
            'ShardedStrategy', ('full', 'sharded'),
            state_dict_cfg=state_dict_cfg)
        self.sharded_checkpoints = state_dict_cfg == 'sharded'
        mm_checkpointing = activation_checkpointing if isinstance(
            activation_checkpointing, dict) else None
        self.checkpoint_classes = None
        if activation_checkpointing is not None and mm_checkpointing is None:
            if not _class_names(activation_checkpointing):
                raise TypeError(
                    'strategy.activation_checkpointing must be a list of '
                    'module class names (e.g. ["Block"]) or mmengine\'s '
                    f'dict(check_fn=...), got {activation_checkpointing!r}')
            self.checkpoint_classes = tuple(activation_checkpointing)
        super().__init__(
            state_dict_cfg='full',
            activation_checkpointing=mm_checkpointing,
            **kwargs)
        wrapper = self.model_wrapper or {}
        if wrapper.get('use_orig_params', True) is not True:
            raise ValueError(
                'strategy.model_wrapper.use_orig_params must be True: the '
                'param groups (layer-wise LR decay) are matched by name')
        if not _class_names(mixed_precision_modules or ()):
            raise TypeError('strategy.mixed_precision_modules must be a list '
                            'of module class names (e.g. ["Block"]), got '
                            f'{mixed_precision_modules!r}')
        self.mixed_precision_modules = tuple(mixed_precision_modules or ())
        if self.mixed_precision_modules and not wrapper.get('mixed_precision'):
            raise ValueError('strategy.mixed_precision_modules needs '
                             'model_wrapper.mixed_precision (the dtypes)')
        self._optim_cfg = None

    def prepare(self, model, *, optim_wrapper=None, **kwargs):
        """As mmengine's, keeping the optimizer config to build its param
        groups on the unwrapped model (:meth:`build_optim_wrapper`).

        Args:
            model (nn.Module | dict): The model or its config.
            optim_wrapper (BaseOptimWrapper | dict, optional): The
                optimizer wrapper or its config. Defaults to None.
            **kwargs: ``param_scheduler``, ``compile``,
                ``dispatch_kwargs`` of mmengine's ``prepare``.

        Returns:
            nn.Module | list: The sharded model, or ``[model,
            optim_wrapper[, param_schedulers]]`` when those are given.
        """
        # the optimizer config: param groups built unwrapped in _wrap_model
        if isinstance(optim_wrapper, dict) and not self._prepared:
            self._optim_cfg = copy.deepcopy(optim_wrapper)
        return super().prepare(model, optim_wrapper=optim_wrapper, **kwargs)

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        for module in model.modules():
            if isinstance(module, BaseDataPreprocessor):
                module.to(get_device())
        if is_model_wrapper(model):
            return model
        self._prebuilt_optim = None
        if self._optim_cfg is not None:
            # names and shapes as the user wrote them (before sharding)
            self._prebuilt_optim = build_optim_wrapper(
                model, copy.deepcopy(self._optim_cfg))
        if torch.cuda.is_available():
            device_id = int(os.environ.get('LOCAL_RANK', 0))
        else:
            device_id = torch.device('cpu')
        wrapper = copy.deepcopy(self.model_wrapper or {})
        wrapper.setdefault('type', 'MMFullyShardedDataParallel')
        if self.mixed_precision_modules:
            self._wrap_low_precision_units(model, wrapper, device_id)
        model = MODEL_WRAPPERS.build(
            wrapper, default_args=dict(module=model, device_id=device_id))
        from torch.distributed.algorithms._checkpoint import \
            checkpoint_wrapper as ckw
        if self.checkpoint_classes:
            classes = self.checkpoint_classes
            found = {type(m).__name__ for m in model.modules()}
            missing = [c for c in classes if c not in found]
            if missing:
                raise ValueError(
                    'strategy.activation_checkpointing names module classes '
                    f'the model does not have: {missing}')
            ckw.apply_activation_checkpointing(
                model,
                checkpoint_wrapper_fn=lambda m: ckw.checkpoint_wrapper(
                    m, checkpoint_impl=ckw.CheckpointImpl.NO_REENTRANT),
                check_fn=lambda m: type(m).__name__ in classes)
            wrapped = sum(
                type(m).__name__ == 'CheckpointWrapper'
                for m in model.modules())
            self.logger.info(f'ShardedStrategy: activation checkpointing of '
                             f'{wrapped} modules ({", ".join(classes)})')
        elif self.activation_checkpointing is not None:
            cfg = copy.deepcopy(self.activation_checkpointing)
            check_fn = cfg.pop('check_fn')
            if isinstance(check_fn, str):
                check_fn = FUNCTIONS.get(check_fn)
            ckw.apply_activation_checkpointing(model, check_fn=check_fn, **cfg)
        return model

    def _wrap_low_precision_units(self, model: nn.Module, wrapper: dict,
                                  device_id) -> None:
        """Wrap each ``mixed_precision_modules`` module in its own FSDP unit
        (inputs cast, outputs back to fp32); ``wrapper`` keeps the root's."""
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        from torch.distributed.fsdp import MixedPrecision, ShardingStrategy
        mp = dict(wrapper.pop('mixed_precision'))
        for key in ('param_dtype', 'reduce_dtype', 'buffer_dtype'):
            if isinstance(mp.get(key), str):
                mp[key] = getattr(torch, mp[key])
        mp['cast_forward_inputs'] = True
        mixed = MixedPrecision(**mp)
        wrapper.pop('auto_wrap_policy', None)
        sharding = wrapper.get('sharding_strategy')
        if isinstance(sharding, str):
            sharding = ShardingStrategy[sharding]
        classes = self.mixed_precision_modules
        targets = [(parent, name) for parent in model.modules()
                   for name, child in parent.named_children()
                   if type(child).__name__ in classes]
        if not targets:
            raise ValueError('strategy.mixed_precision_modules names no '
                             f'module class of the model: {list(classes)}')

        def to_fp32(module, args, output):
            if torch.is_tensor(output) and output.is_floating_point():
                return output.float()
            return output

        for parent, name in targets:
            unit = FSDP(
                getattr(parent, name),
                device_id=device_id,
                mixed_precision=mixed,
                sharding_strategy=sharding,
                use_orig_params=True)
            unit.register_forward_hook(to_fp32)
            setattr(parent, name, unit)
        self.logger.info(
            f'ShardedStrategy: {len(targets)} FSDP units in '
            f'{mixed.param_dtype} ({", ".join(classes)}), the rest in fp32')

    def build_optim_wrapper(self, optim_wrapper, model=None):
        """The optimizer wrapper on the sharded parameters; a config's
        param groups are those built on the unwrapped model, and a
        ``clip_grad`` by norm clips over all shards.

        Args:
            optim_wrapper (BaseOptimWrapper | dict): The wrapper or its
                config.
            model (nn.Module, optional): The FSDP-wrapped model. Defaults
                to None.

        Returns:
            BaseOptimWrapper: The wrapper, its optimizer on ``model``'s
            parameters.
        """
        prebuilt = getattr(self, '_prebuilt_optim', None)
        if isinstance(optim_wrapper, dict) and prebuilt is not None:
            self._prebuilt_optim = None
            optim_wrapper = self._move_to_sharded(prebuilt, model)
        elif isinstance(optim_wrapper, (dict, BaseOptimWrapper)):
            optim_wrapper = super().build_optim_wrapper(optim_wrapper, model)
        if isinstance(optim_wrapper, OptimWrapper) and getattr(
                optim_wrapper, 'clip_grad_kwargs', None) and getattr(
                    optim_wrapper, 'grad_name', '') == 'grad_norm':
            fsdp_model = model

            def clip_all_shards(params, **kwargs):
                return fsdp_model.clip_grad_norm_(**kwargs)

            optim_wrapper.clip_func = clip_all_shards
        return optim_wrapper

    def _move_to_sharded(self, optim_wrapper: BaseOptimWrapper,
                         model: nn.Module) -> BaseOptimWrapper:
        """Move the optimizer built on the unwrapped model onto the sharded
        parameters, group by group."""
        if not isinstance(optim_wrapper, OptimWrapper):
            raise TypeError('ShardedStrategy supports one optimizer '
                            f'(OptimWrapper), got {type(optim_wrapper)}')
        optimizer = optim_wrapper.optimizer
        sharded = {clean_param_name(k): v for k, v in model.named_parameters()}
        for group in optimizer.param_groups:  # (built now, no state yet)
            names = [self.id_to_name[id(p)] for p in group['params']]
            group['params'] = [sharded[n] for n in names]
        return optim_wrapper
