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
  between the two offline (``tools/convert_sharded_checkpoint.py``); resume
  reads either format whatever ``state_dict_cfg`` is.

Both formats use :func:`torch.distributed.checkpoint.state_dict.get_state_dict`
/ ``set_state_dict``: model and optimizer state keyed by the unwrapped
parameter names, the same on 1 or N ranks.
"""
import copy
import os
import os.path as osp
import time
from typing import Callable, Optional, Sequence, Union

import mmengine
import torch
import torch.nn as nn
from mmengine._strategy import FSDPStrategy
from mmengine.device import get_device
from mmengine.dist import get_rank, get_world_size, is_main_process
from mmengine.model import BaseDataPreprocessor, is_model_wrapper
from mmengine.optim import BaseOptimWrapper, OptimWrapper, build_optim_wrapper
from mmengine.utils import get_git_hash, mkdir_or_exist

from stmixer_mm.registry import FUNCTIONS, MODEL_WRAPPERS, STRATEGIES

__all__ = [
    'ShardedStrategy', 'DeepSpeedUnavailable', 'stmixer_vit_block_wrap_policy',
    'is_sharded_checkpoint', 'sharded_to_full', 'full_to_sharded',
    'clean_param_name'
]

#: name prefixes FSDP and the checkpoint wrapper add to parameter names
WRAPPER_PREFIXES = ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.')
#: the file that marks a torch.distributed.checkpoint folder
DCP_METADATA = '.metadata'
#: per-rank file of a sharded checkpoint with everything but the tensors
EXTRA_FILE = 'extra_rank{}.pth'


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


def is_sharded_checkpoint(path: str) -> bool:
    """Whether ``path`` is a folder written by the sharded format."""
    return osp.isdir(path) and osp.isfile(osp.join(path, DCP_METADATA))


def _dcp():
    import torch.distributed.checkpoint as dcp
    return dcp


def sharded_to_full(src: str, dst: Optional[str] = None) -> dict:
    """Merge a sharded checkpoint folder into one full checkpoint.

    Runs in one process without a process group (PyTorch's
    ``dcp_to_torch_save`` reads every rank's shards). The result is an
    ordinary mmengine checkpoint: ``state_dict`` (the model's key names),
    ``optimizer`` (keyed by parameter name, as
    :class:`ShardedStrategy` resumes it), and rank 0's meta, message hub,
    scheduler and random state. Written to ``dst`` when given.
    """
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    if not is_sharded_checkpoint(src):
        raise FileNotFoundError(
            f'{src} is not a sharded checkpoint folder (no {DCP_METADATA} '
            'of torch.distributed.checkpoint in it)')
    extra_path = osp.join(src, EXTRA_FILE.format(0))
    if not osp.isfile(extra_path):
        raise FileNotFoundError(f'{extra_path} is missing: a sharded '
                                'checkpoint has one extra_rank{i}.pth per '
                                'rank')
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        merged = osp.join(tmp, 'merged.pth')
        dcp_to_torch_save(src, merged)
        tensors = torch.load(merged, map_location='cpu', weights_only=False)
    checkpoint = torch.load(extra_path, map_location='cpu', weights_only=False)
    checkpoint.update(tensors)
    checkpoint.setdefault('meta', {})['sharded_source'] = osp.abspath(src)
    if dst is not None:
        mkdir_or_exist(osp.dirname(osp.abspath(dst)))
        torch.save(checkpoint, dst)
    return checkpoint


def full_to_sharded(src: Union[str, dict],
                    dst: str,
                    world_size: int = 1) -> None:
    """Write a full checkpoint as a sharded folder (one process).

    The tensors go through ``torch.distributed.checkpoint`` (their shards
    are re-cut for any number of ranks when resumed); everything else is
    copied to ``extra_rank{i}.pth`` for ``i < world_size``.
    """
    from torch.distributed.checkpoint.format_utils import torch_save_to_dcp
    checkpoint = torch.load(
        src, map_location='cpu', weights_only=False) if isinstance(
            src, str) else src
    if 'state_dict' not in checkpoint:
        raise KeyError(f'{src} has no `state_dict`: not an mmengine '
                       'checkpoint')
    tensors = {
        k: checkpoint[k]
        for k in ('state_dict', 'optimizer') if k in checkpoint
    }
    extra = {
        k: v
        for k, v in checkpoint.items() if k not in ('state_dict', 'optimizer')
    }
    import tempfile
    mkdir_or_exist(dst)
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'tensors.pth')
        torch.save(tensors, path)
        torch_save_to_dcp(path, dst)
    for rank in range(world_size):
        torch.save(extra, osp.join(dst, EXTRA_FILE.format(rank)))


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
class ShardedStrategy(FSDPStrategy):
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

    # ------------------------------------------------------------------
    # state dicts
    # ------------------------------------------------------------------
    def _options(self, full: bool):
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        # Full state dicts are gathered to rank 0's CPU memory on CUDA
        # machines. Without CUDA, cpu_offload=True crashes rank 0 (SIGSEGV
        # in torch 2.13's FSDP1 over gloo); the tensors are on the CPU
        # anyway, so every rank gathers them and only rank 0 saves.
        return StateDictOptions(
            full_state_dict=full,
            cpu_offload=full and torch.cuda.is_available())

    def model_state_dict(self) -> dict:
        from torch.distributed.checkpoint.state_dict import \
            get_model_state_dict
        return get_model_state_dict(
            self.model, options=self._options(not self.sharded_checkpoints))

    def optim_state_dict(self) -> dict:
        from torch.distributed.checkpoint.state_dict import \
            get_optimizer_state_dict
        return get_optimizer_state_dict(
            self.model,
            self.optim_wrapper.optimizer,
            options=self._options(not self.sharded_checkpoints))

    def load_model_state_dict(self,
                              state_dict: dict,
                              *,
                              strict=False,
                              revise_keys=None) -> None:
        from torch.distributed.checkpoint.state_dict import \
            set_model_state_dict
        state_dict = {
            k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state_dict.items()
        }
        set_model_state_dict(
            self.model,
            state_dict,
            options=self._options_load(full=True, strict=strict))

    def load_optim_state_dict(self, state_dict: dict) -> None:
        from torch.distributed.checkpoint.state_dict import \
            set_optimizer_state_dict
        set_optimizer_state_dict(
            self.model,
            self.optim_wrapper.optimizer,
            state_dict,
            options=self._options_load(full=True))

    def _options_load(self, full: bool, strict: bool = True):
        from torch.distributed.checkpoint.state_dict import StateDictOptions
        return StateDictOptions(full_state_dict=full, strict=strict)

    # ------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------
    def _extra(self, extra_ckpt: Optional[dict]) -> dict:
        extra = dict(extra_ckpt or {})
        extra.setdefault('meta', {})
        extra['meta'].update(
            seed=self.seed,
            time=time.strftime('%Y%m%d_%H%M%S', time.localtime()),
            mmengine=mmengine.__version__ + get_git_hash(),
            world_size=get_world_size(),
            state_dict_format='sharded'
            if self.sharded_checkpoints else 'full')
        return extra

    def save_checkpoint(self,
                        filename: str,
                        *,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        extra_ckpt: Optional[dict] = None,
                        callback: Optional[Callable] = None) -> None:
        from mmengine.runner.checkpoint import save_checkpoint
        checkpoint = dict(state_dict=self.model_state_dict())
        if save_optimizer and hasattr(self, 'optim_wrapper'):
            checkpoint['optimizer'] = self.optim_state_dict()
        if save_param_scheduler and hasattr(self, 'param_schedulers'):
            checkpoint['param_schedulers'] = self.scheduler_state_dict()
        checkpoint.update(self._extra(extra_ckpt))
        if callback is not None:
            callback(checkpoint)
        if not self.sharded_checkpoints:
            # full_state_dict + cpu_offload: only rank 0 holds the tensors
            if is_main_process():
                save_checkpoint(checkpoint, filename)
            return
        tensors = {
            k: checkpoint.pop(k)
            for k in ('state_dict', 'optimizer') if k in checkpoint
        }
        mkdir_or_exist(filename)
        _dcp().save(tensors, checkpoint_id=filename)
        torch.save(checkpoint, osp.join(filename,
                                        EXTRA_FILE.format(get_rank())))

    def _read_extra(self, filename: str, map_location) -> dict:
        path = osp.join(filename, EXTRA_FILE.format(get_rank()))
        if not osp.isfile(path):  # another number of ranks: rank 0's
            path = osp.join(filename, EXTRA_FILE.format(0))
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{filename} is a sharded checkpoint without '
                f'{EXTRA_FILE.format(0)} (meta, schedulers): incomplete copy?')
        return torch.load(path, map_location='cpu', weights_only=False)

    def _load_sharded(self, filename: str, with_optimizer: bool) -> dict:
        from torch.distributed.checkpoint.state_dict import (StateDictOptions,
                                                             get_state_dict,
                                                             set_state_dict)
        optimizers = [self.optim_wrapper.optimizer] if with_optimizer else []
        model_sd, optim_sd = get_state_dict(
            self.model, optimizers, options=StateDictOptions())
        tensors = dict(state_dict=model_sd)
        if with_optimizer:
            tensors['optimizer'] = optim_sd
        _dcp().load(tensors, checkpoint_id=filename)
        set_state_dict(
            self.model,
            optimizers,
            model_state_dict=tensors['state_dict'],
            optim_state_dict=tensors.get('optimizer', {}),
            options=StateDictOptions())
        return tensors

    def load_checkpoint(self, filename: str, **kwargs) -> dict:
        """A sharded folder or a full file, into the sharded model."""
        callback = kwargs.get('callback')
        if is_sharded_checkpoint(filename):
            self.logger.info(f'Load sharded checkpoint from {filename}')
            checkpoint = self._read_extra(filename, kwargs.get('map_location'))
            if callback is not None:
                callback(checkpoint)
            self._load_sharded(filename, with_optimizer=False)
            return checkpoint
        if osp.isdir(filename):
            raise FileNotFoundError(
                f'{filename} is a folder but not a sharded checkpoint (no '
                f'{DCP_METADATA})')
        # a full checkpoint: every rank reads it and keeps its shards
        return super(FSDPStrategy, self).load_checkpoint(filename, **kwargs)

    def resume(self,
               filename: str,
               *,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location='default',
               callback: Optional[Callable] = None) -> dict:
        if not is_sharded_checkpoint(filename):
            return super().resume(
                filename,
                resume_optimizer=resume_optimizer,
                resume_param_scheduler=resume_param_scheduler,
                map_location=map_location,
                callback=callback)
        self.logger.info(f'Resume sharded checkpoint from {filename}')
        checkpoint = self._read_extra(filename, map_location)
        if callback is not None:
            callback(checkpoint)
        self._load_sharded(filename, with_optimizer=resume_optimizer)
        if resume_param_scheduler and hasattr(self, 'param_schedulers'):
            self.load_scheduler_state_dict(checkpoint.pop('param_schedulers'))
        resumed_seed = checkpoint['meta'].get('seed', None)
        if resumed_seed is not None and resumed_seed != self._randomness.get(
                'seed'):
            self._randomness.update(seed=resumed_seed)
            self._set_randomness(**self._randomness)
        counts = getattr(
            getattr(self, 'optim_wrapper', None), '_accumulative_counts', 1)
        if counts > 1:  # gradient accumulation resumes mid-cycle
            self.optim_wrapper.initialize_count_status(
                self.model, checkpoint['meta']['iter'],
                self.dispatch_kwargs['max_iters'])
        return checkpoint
