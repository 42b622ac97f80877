"""Checkpoints of :class:`~stmixer_mm.engine.sharded.ShardedStrategy`: one
file saved on rank 0, or a :mod:`torch.distributed.checkpoint` folder plus
``extra_rank{i}.pth`` (meta, schedulers...) per rank; and conversions."""
import os.path as osp
import re
import time
from typing import Callable, Optional, Union

import mmengine
import torch
from mmengine._strategy import FSDPStrategy
from mmengine.dist import get_rank, get_world_size, is_main_process
from mmengine.utils import get_git_hash, mkdir_or_exist

from stmixer_mm.utils.checkpoint_loading import load_checkpoint_file
from .dcp_reader import load_sharded_state

__all__ = [
    'DCP_METADATA', 'EXTRA_FILE', 'is_sharded_checkpoint', 'sharded_to_full',
    'full_to_sharded', 'ShardedCheckpointMixin'
]

#: the file that marks a torch.distributed.checkpoint folder
DCP_METADATA = '.metadata'
#: per-rank file of a sharded checkpoint with everything but the tensors
EXTRA_FILE = 'extra_rank{}.pth'


def is_sharded_checkpoint(path: str) -> bool:
    """Whether ``path`` is a folder written by the sharded format."""
    return osp.isdir(path) and osp.isfile(osp.join(path, DCP_METADATA))


def sharded_to_full(src: str,
                    dst: Optional[str] = None,
                    with_optimizer: bool = True) -> dict:
    """Merge a sharded checkpoint folder into one full checkpoint (one
    process, no process group).

    Args:
        src (str): The sharded folder (with ``.metadata`` and
            ``extra_rank0.pth``).
        dst (str, optional): Where to save the full checkpoint; None:
            only returned. Defaults to None.
        with_optimizer (bool): Also merge the optimizer state. Defaults
            to True.

    Returns:
        dict: An mmengine checkpoint: ``state_dict`` (the model's key
        names), ``optimizer`` (by parameter name, if
        ``with_optimizer``), rank 0's other entries (``meta`` with
        ``sharded_source``, schedulers, ...).

    Raises:
        FileNotFoundError: ``src`` is not a sharded folder, or lacks
            ``extra_rank0.pth``.
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
    tensors = load_sharded_state(
        src, keys=None if with_optimizer else ('state_dict', ))
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
    """Write a full checkpoint as a sharded folder (one process; re-cut for
    any number of ranks on resume), the rest to ``extra_rank{i}.pth``.

    Args:
        src (str | dict): The full checkpoint, a file or loaded.
        dst (str): The folder to write (created).
        world_size (int): ``extra_rank{i}.pth`` files written, ``i <
            world_size``. Defaults to 1.

    Raises:
        KeyError: ``src`` has no ``state_dict``.
        ValueError: ``world_size`` is not a positive int (0 wrote a folder
            without ``extra_rank0.pth``, which no tool can load).
    """
    counts = isinstance(world_size, int) and not isinstance(world_size, bool)
    if not counts or world_size < 1:
        raise ValueError(f'world_size: expected a positive int (the ranks '
                         f'to write extra_rank{{i}}.pth for), got '
                         f'{world_size!r}')
    import tempfile

    from torch.distributed.checkpoint.format_utils import torch_save_to_dcp
    checkpoint = dict(
        load_checkpoint_file(src, check_first=False) if isinstance(src, str
                                                                   ) else src)
    if 'state_dict' not in checkpoint:
        raise KeyError(f'{src} has no `state_dict`: not an mmengine '
                       'checkpoint')
    tensors = _pop_tensors(checkpoint)
    mkdir_or_exist(dst)
    with tempfile.TemporaryDirectory() as tmp:  # torch's public converter
        torch.save(tensors, osp.join(tmp, 'tensors.pth'))
        torch_save_to_dcp(osp.join(tmp, 'tensors.pth'), dst)
    for rank in range(world_size):
        torch.save(checkpoint, osp.join(dst, EXTRA_FILE.format(rank)))


def _pop_tensors(checkpoint: dict) -> dict:
    """Take what ``torch.distributed.checkpoint`` stores out of
    ``checkpoint``: ``state_dict`` and ``optimizer``."""
    return {
        k: checkpoint.pop(k)
        for k in ('state_dict', 'optimizer') if k in checkpoint
    }


def _dcp_sd():
    """``torch.distributed.checkpoint.state_dict`` (a slow import)."""
    import torch.distributed.checkpoint.state_dict as dcp_sd
    return dcp_sd


class ShardedCheckpointMixin:
    """State dicts and checkpoints of ``ShardedStrategy`` (both formats),
    keyed by the unwrapped parameter names, the same on 1 or N ranks."""

    def _options(self, full: bool):
        # without CUDA, cpu_offload=True crashes rank 0 (SIGSEGV, torch
        # 2.13 FSDP1 over gloo): every rank gathers, only rank 0 saves
        return _dcp_sd().StateDictOptions(
            full_state_dict=full,
            cpu_offload=full and torch.cuda.is_available())

    def model_state_dict(self) -> dict:
        return _dcp_sd().get_model_state_dict(
            self.model, options=self._options(not self.sharded_checkpoints))

    def optim_state_dict(self) -> dict:
        return _dcp_sd().get_optimizer_state_dict(
            self.model,
            self.optim_wrapper.optimizer,
            options=self._options(not self.sharded_checkpoints))

    def load_model_state_dict(self,
                              state_dict: dict,
                              *,
                              strict=False,
                              revise_keys=None) -> None:
        """Load full weights into the sharded model.

        Args:
            state_dict (dict): Full weights by the unwrapped names (a
                ``module.`` prefix is dropped).
            strict (bool): Refuse missing / unexpected keys. Defaults to
                False.
            revise_keys (list, optional): Unused (mmengine's argument).
        """
        _dcp_sd().set_model_state_dict(
            self.model, {
                re.sub(r'^module\.', '', k): v
                for k, v in state_dict.items()
            },
            options=_dcp_sd().StateDictOptions(
                full_state_dict=True, strict=strict))

    def load_optim_state_dict(self, state_dict: dict) -> None:
        _dcp_sd().set_optimizer_state_dict(
            self.model,
            self.optim_wrapper.optimizer,
            state_dict,
            options=_dcp_sd().StateDictOptions(full_state_dict=True))

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
        """Save a checkpoint in the strategy's format: one file written by
        rank 0 (``'full'``), or a folder where every rank writes its shards
        and ``extra_rank{i}.pth`` (``'sharded'``).

        Args:
            filename (str): The file (or folder) to write.
            save_optimizer (bool): Also the optimizer state. Defaults to
                True.
            save_param_scheduler (bool): Also the schedulers' states.
                Defaults to True.
            extra_ckpt (dict, optional): Entries added to the checkpoint;
                its ``meta`` gets ``seed``, ``time``, ``mmengine``,
                ``world_size`` and ``state_dict_format``. Defaults to None.
            callback (Callable, optional): Called with the checkpoint dict
                before it is written. Defaults to None.
        """
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
        tensors = _pop_tensors(checkpoint)
        mkdir_or_exist(filename)
        import torch.distributed.checkpoint as dcp
        dcp.save(tensors, checkpoint_id=filename)
        torch.save(checkpoint, osp.join(filename,
                                        EXTRA_FILE.format(get_rank())))

    def _load_sharded(self, filename: str, with_optimizer: bool,
                      callback: Optional[Callable]) -> dict:
        """Rank's (else rank 0's) ``extra_rank{i}.pth`` (returned, after
        ``callback``), then the tensors into the model (and optimizer)."""
        path = osp.join(filename, EXTRA_FILE.format(get_rank()))
        if not osp.isfile(path):  # another number of ranks: rank 0's
            path = osp.join(filename, EXTRA_FILE.format(0))
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{filename} is a sharded checkpoint without '
                f'{EXTRA_FILE.format(0)} (meta, schedulers): incomplete copy?')
        checkpoint = load_checkpoint_file(path, check_first=False)
        if callback is not None:
            callback(checkpoint)
        optimizers = [self.optim_wrapper.optimizer] if with_optimizer else []
        model_sd, optim_sd = _dcp_sd().get_state_dict(
            self.model, optimizers, options=_dcp_sd().StateDictOptions())
        tensors = dict(state_dict=model_sd)
        if with_optimizer:
            tensors['optimizer'] = optim_sd
        load_sharded_state(filename, tensors)
        _dcp_sd().set_state_dict(
            self.model,
            optimizers,
            model_state_dict=tensors['state_dict'],
            optim_state_dict=tensors.get('optimizer', {}),
            options=_dcp_sd().StateDictOptions())
        return checkpoint

    def load_checkpoint(self, filename: str, **kwargs) -> dict:
        """Load a sharded folder or a full file into the sharded model.

        Args:
            filename (str): The checkpoint file or sharded folder.
            **kwargs: mmengine's ``load_checkpoint`` arguments; a folder
                reads only ``callback``.

        Returns:
            dict: The checkpoint; for a folder, its ``extra_rank{i}.pth``
            (meta, schedulers; the weights are loaded into the model).

        Raises:
            FileNotFoundError: A folder that is not a sharded checkpoint,
                or lacks ``extra_rank0.pth``.
        """
        if is_sharded_checkpoint(filename):
            self.logger.info(f'Load sharded checkpoint from {filename}')
            return self._load_sharded(filename, False, kwargs.get('callback'))
        if osp.isdir(filename):
            raise FileNotFoundError(
                f'{filename} is a folder but not a sharded checkpoint (no '
                f'{DCP_METADATA})')
        return super(FSDPStrategy, self).load_checkpoint(filename, **kwargs)

    def resume(self,
               filename: str,
               *,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location='default',
               callback: Optional[Callable] = None) -> dict:
        """Resume training from a full file (mmengine's ``resume``) or a
        sharded folder (model, optimizer, schedulers, seed, gradient
        accumulation state), on any number of ranks.

        Args:
            filename (str): The checkpoint file or sharded folder.
            resume_optimizer (bool): Load the optimizer state. Defaults to
                True.
            resume_param_scheduler (bool): Load the schedulers' states.
                Defaults to True.
            map_location (str): A full file's, as mmengine's. Defaults to
                ``'default'``.
            callback (Callable, optional): Called with the checkpoint dict
                before the tensors are loaded. Defaults to None.

        Returns:
            dict: The checkpoint (for a folder, its ``extra_rank{i}.pth``;
            ``meta`` holds ``epoch`` and ``iter``).
        """
        if not is_sharded_checkpoint(filename):
            return super().resume(
                filename,
                resume_optimizer=resume_optimizer,
                resume_param_scheduler=resume_param_scheduler,
                map_location=map_location,
                callback=callback)
        self.logger.info(f'Resume sharded checkpoint from {filename}')
        checkpoint = self._load_sharded(filename, resume_optimizer, callback)
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
