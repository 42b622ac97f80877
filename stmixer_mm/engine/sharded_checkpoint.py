"""Checkpoints of :class:`~stmixer_mm.engine.sharded.ShardedStrategy`.

``state_dict_cfg='full'``: one ordinary checkpoint saved on rank 0;
``'sharded'``: a :mod:`torch.distributed.checkpoint` folder (each rank
writes its shards) plus ``extra_rank{i}.pth`` per rank (meta, message hub,
schedulers, random state). :func:`sharded_to_full` / :func:`full_to_sharded`
convert; resume reads either. See docs/en/large_backbones.md.
"""
import os.path as osp
import time
from typing import Callable, Optional, Sequence, Union

import mmengine
import torch
from mmengine._strategy import FSDPStrategy
from mmengine.dist import get_rank, get_world_size, is_main_process
from mmengine.utils import get_git_hash, mkdir_or_exist

from stmixer_mm.utils.checkpoint_loading import (ShardedCheckpointError,
                                                 load_checkpoint_file,
                                                 raise_dcp_failure,
                                                 safe_dcp_planner,
                                                 safe_dcp_reader)

__all__ = [
    'DCP_METADATA', 'EXTRA_FILE', 'is_sharded_checkpoint', 'sharded_to_full',
    'full_to_sharded', 'load_sharded_tensors', 'ShardedCheckpointError',
    'ShardedCheckpointMixin'
]

#: the file that marks a torch.distributed.checkpoint folder
DCP_METADATA = '.metadata'
#: per-rank file of a sharded checkpoint with everything but the tensors
EXTRA_FILE = 'extra_rank{}.pth'


def is_sharded_checkpoint(path: str) -> bool:
    """Whether ``path`` is a folder written by the sharded format."""
    return osp.isdir(path) and osp.isfile(osp.join(path, DCP_METADATA))


def _dcp():
    import torch.distributed.checkpoint as dcp
    return dcp


def load_sharded_tensors(src: str,
                         keys: Optional[Sequence[str]] = None) -> dict:
    """The shards of folder ``src`` (only top-level ``keys`` if given) as one
    state dict, in one process without a process group: PyTorch's
    ``dcp_to_torch_save`` with the safe reader and planner of
    :mod:`stmixer_mm.utils.checkpoint_loading`.

    Raises:
        ShardedCheckpointError: A shard or the metadata missing, truncated,
            corrupt.
        UnsafePickleError: The metadata or an item asks for a refused global.
    """
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict
    state_dict: dict = {}
    try:
        _load_state_dict(
            state_dict,
            storage_reader=safe_dcp_reader(src),
            planner=safe_dcp_planner(empty_state_dict=True, keys=keys),
            no_dist=True)
    except BaseException as err:  # noqa: B902 - DCP's CheckpointException
        raise_dcp_failure(err)
        raise
    return state_dict


def sharded_to_full(src: str,
                    dst: Optional[str] = None,
                    with_optimizer: bool = True) -> dict:
    """Merge a sharded checkpoint folder into one full checkpoint.

    One process, no process group. The result: ``state_dict``,
    ``optimizer`` (keyed by parameter name; left out unless
    ``with_optimizer``: a third of the memory) and rank 0's other entries;
    written to ``dst`` if given.
    """
    if not is_sharded_checkpoint(src):
        raise FileNotFoundError(
            f'{src} is not a sharded checkpoint folder (no {DCP_METADATA} '
            'of torch.distributed.checkpoint in it)')
    extra_path = osp.join(src, EXTRA_FILE.format(0))
    if not osp.isfile(extra_path):
        raise FileNotFoundError(f'{extra_path} is missing: a sharded '
                                'checkpoint has one extra_rank{i}.pth per '
                                'rank')
    tensors = load_sharded_tensors(
        src, None if with_optimizer else ('state_dict', ))
    checkpoint = load_checkpoint_file(extra_path, check_first=False)
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

    Tensors via ``torch.distributed.checkpoint`` (re-cut for any number of
    ranks on resume); the rest to ``extra_rank{i}.pth``, ``i < world_size``.
    """
    from torch.distributed.checkpoint.format_utils import torch_save_to_dcp
    checkpoint = load_checkpoint_file(
        src, check_first=False) if isinstance(src, str) else src
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


class ShardedCheckpointMixin:
    """State dicts and checkpoints of ``ShardedStrategy`` (both formats),
    via ``torch.distributed.checkpoint.state_dict``: keyed by the unwrapped
    parameter names, the same on 1 or N ranks.
    """

    # ------------------------------------------------------------------
    # state dicts
    # ------------------------------------------------------------------
    def _options(self, full: bool):
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        # without CUDA, cpu_offload=True crashes rank 0 (SIGSEGV, torch
        # 2.13 FSDP1 over gloo): every rank gathers, only rank 0 saves
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
        return load_checkpoint_file(path, check_first=False)

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
        try:
            _dcp().load(
                tensors,
                storage_reader=safe_dcp_reader(filename),
                planner=safe_dcp_planner())
        except BaseException as err:  # noqa: B902 - CheckpointException
            raise_dcp_failure(err)
            raise
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
