"""Sharded (FSDP) training with mmengine's FlexibleRunner, also on CPU.

mmengine 0.10.7's :class:`~mmengine._strategy.FSDPStrategy` is the base;
:class:`ShardedStrategy` changes only what does not work for STMixer or
without CUDA:

- **device**: mmengine hands ``device_id=LOCAL_RANK`` (a CUDA index) to
  ``FullyShardedDataParallel``; without CUDA the module stays on the CPU
  (``device_id=cpu``), which PyTorch's FSDP accepts over gloo.
- **optimizer**: with ``use_orig_params=True`` FSDP replaces every parameter
  by a flat 1-D view of this rank's shard and prefixes the names with
  ``_fsdp_wrapped_module.`` / ``_checkpoint_wrapped_module.``. An optimizer
  constructor that reads names or shapes (the layer-wise LR decay of
  mmaction2, ``paramwise_cfg``'s norm/bias rules) then silently puts every
  parameter in the wrong group. The param groups are therefore built on the
  unwrapped model, before sharding, and moved onto the sharded parameters
  by name.
- **gradient clipping**: ``clip_grad`` (norm) uses FSDP's
  ``clip_grad_norm_`` (the norm over all shards) instead of
  ``torch.nn.utils.clip_grad_norm_`` (this rank's shard only).
- **activation checkpointing**: a list of module class names (e.g.
  ``['Block']`` for mmaction2's ViT blocks) is wrapped with PyTorch's
  non-reentrant checkpoint wrapper after sharding. (mmengine's
  ``dict(check_fn=...)`` form drops the arguments of a ``check_fn`` dict.)
- **checkpoints**: ``state_dict_cfg='full'`` saves one ordinary checkpoint
  on rank 0 (the model's own key names: ``tools/test.py`` and the plain
  Runner load it); ``state_dict_cfg='sharded'`` saves a folder per
  checkpoint with :mod:`torch.distributed.checkpoint` (every rank writes
  its shards; nobody gathers the full model) plus one small
  ``extra_rank{i}.pth`` per rank (meta, message hub, schedulers, random
  state). :func:`sharded_to_full` / :func:`full_to_sharded` convert
  between the two offline
  (``tools/model_converters/convert_sharded_checkpoint.py``); resume reads
  either format whatever ``state_dict_cfg`` is. That code (formats,
  conversions, the strategy's state-dict / save / load / resume methods)
  is in :mod:`stmixer_mm.engine.sharded_checkpoint`; this module builds
  and wraps the model and the optimizer.

Registered here: :class:`ShardedStrategy` (``STRATEGIES``) and
:func:`stmixer_vit_block_wrap_policy` (``FUNCTIONS``).
"""
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
from .sharded_checkpoint import (DCP_METADATA, EXTRA_FILE,
                                 ShardedCheckpointMixin, full_to_sharded,
                                 is_sharded_checkpoint, sharded_to_full)

__all__ = [
    'ShardedStrategy', 'DeepSpeedUnavailable', 'stmixer_vit_block_wrap_policy',
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


@FUNCTIONS.register_module()
def stmixer_vit_block_wrap_policy(module: nn.Module,
                                  recurse: bool,
                                  nonwrapped_numel: int,
                                  classes: Sequence[str] = ('Block', )):
    """FSDP auto-wrap policy: one FSDP unit per ViT block.

    Each unit gathers one block's parameters just before it runs and frees
    them after, so at most a block or two are unsharded at a time. The
    blocks are matched by class name (mmaction2's ``Block``, or a subclass
    named in ``classes``); the rest of the model (patch embedding, neck,
    decoder) is the root unit.
    """
    if recurse:
        return True
    return type(module).__name__ in tuple(classes)


class DeepSpeedUnavailable(ImportError):
    """A config asks for DeepSpeed, which is not installed."""


def check_deepspeed(strategy_cfg: dict) -> None:
    """Stop with a clear message when a DeepSpeed config cannot run."""
    import importlib.util
    if importlib.util.find_spec('deepspeed') is None:
        raise DeepSpeedUnavailable(
            f"strategy.type={strategy_cfg.get('type')!r} needs the "
            '`deepspeed` package, which is not installed (pip install '
            'deepspeed, on a machine with CUDA and a compiler). Use '
            "strategy.type='ShardedStrategy' (PyTorch FSDP, no extra "
            'package) instead.')


@STRATEGIES.register_module()
class ShardedStrategy(ShardedCheckpointMixin, FSDPStrategy):
    """mmengine's FSDP strategy, usable on CPU and with STMixer's configs.

    Keyword Args:
        model_wrapper (dict, optional): arguments of
            :class:`~mmengine.model.MMFullyShardedDataParallel` (e.g.
            ``auto_wrap_policy``, ``mixed_precision``,
            ``sharding_strategy``). ``use_orig_params`` must stay True.
        state_dict_cfg (str): ``'full'`` (one file, rank 0) or
            ``'sharded'`` (one folder, every rank writes its shards).
        activation_checkpointing (list[str] | dict, optional): class names
            of the modules to checkpoint, or mmengine's dict form.
        mixed_precision_modules (list[str], optional): class names of the
            modules that compute in ``model_wrapper.mixed_precision`` (e.g.
            ``['Block']``: the ViT blocks in bf16); each becomes an FSDP
            unit of its own, casts its inputs to the low precision and
            returns fp32, and the rest of the model (patch embedding, neck,
            decoder, losses) stays in fp32. Without it, mmengine's
            behaviour: the whole model in ``mixed_precision``.
        **kwargs: the rest of :class:`FSDPStrategy`'s arguments.
    """

    def __init__(self,
                 *,
                 state_dict_cfg: str = 'full',
                 activation_checkpointing: Union[Sequence[str], dict,
                                                 None] = None,
                 mixed_precision_modules: Optional[Sequence[str]] = None,
                 **kwargs):
        if state_dict_cfg not in ('full', 'sharded'):
            raise ValueError("strategy.state_dict_cfg must be 'full' or "
                             f"'sharded', got {state_dict_cfg!r}")
        self.sharded_checkpoints = state_dict_cfg == 'sharded'
        mm_checkpointing = activation_checkpointing if isinstance(
            activation_checkpointing, dict) else None
        self.checkpoint_classes = None
        if activation_checkpointing is not None and mm_checkpointing is None:
            if isinstance(activation_checkpointing, str) or not all(
                    isinstance(c, str) for c in activation_checkpointing):
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
        self.mixed_precision_modules = tuple(mixed_precision_modules or ())
        if self.mixed_precision_modules and not wrapper.get('mixed_precision'):
            raise ValueError('strategy.mixed_precision_modules needs '
                             'model_wrapper.mixed_precision (the dtypes)')
        self._optim_cfg = None

    # ------------------------------------------------------------------
    # model and optimizer
    # ------------------------------------------------------------------
    def prepare(self, model, *, optim_wrapper=None, **kwargs):
        # keep the optimizer config: its param groups are built on the
        # unwrapped model in _wrap_model
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
        if self.checkpoint_classes:
            from torch.distributed.algorithms._checkpoint import \
                checkpoint_wrapper as ckw
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
            from torch.distributed.algorithms._checkpoint import \
                checkpoint_wrapper as ckw
            cfg = copy.deepcopy(self.activation_checkpointing)
            check_fn = cfg.pop('check_fn')
            if isinstance(check_fn, str):
                check_fn = FUNCTIONS.get(check_fn)
            ckw.apply_activation_checkpointing(model, check_fn=check_fn, **cfg)
        return model

    def _wrap_low_precision_units(self, model: nn.Module, wrapper: dict,
                                  device_id) -> None:
        """Wrap each module named in ``mixed_precision_modules`` in an FSDP
        unit of its own with ``wrapper['mixed_precision']`` (inputs cast
        to it, outputs cast back to fp32); ``wrapper`` keeps the settings
        of the root unit (no mixed precision, no auto-wrapping)."""
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
        prebuilt = getattr(self, '_prebuilt_optim', None)
        if isinstance(optim_wrapper, dict) and prebuilt is not None:
            self._prebuilt_optim = None
            optim_wrapper = self._move_to_sharded(prebuilt, model)
        elif isinstance(optim_wrapper, dict):
            optim_wrapper = super().build_optim_wrapper(optim_wrapper, model)
        elif isinstance(optim_wrapper, BaseOptimWrapper):
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
        """Rebuild the optimizer of ``optim_wrapper`` (built on the
        unwrapped model) on the sharded parameters, group by group."""
        if not isinstance(optim_wrapper, OptimWrapper):
            raise TypeError('ShardedStrategy supports one optimizer '
                            f'(OptimWrapper), got {type(optim_wrapper)}')
        optimizer = optim_wrapper.optimizer
        sharded = {clean_param_name(k): v for k, v in model.named_parameters()}
        if optimizer.state:
            raise RuntimeError('the optimizer must not have a state yet')
        # the same optimizer (its class, hyper-parameters and groups), its
        # parameters swapped for the sharded ones of the same name
        for group in optimizer.param_groups:
            names = [self.id_to_name[id(p)] for p in group['params']]
            lost = [n for n in names if n not in sharded]
            if lost:
                raise RuntimeError(
                    f'parameters {lost[:5]} are not in the sharded model')
            group['params'] = [sharded[n] for n in names]
        return optim_wrapper
