"""Save the random state in checkpoints and restore it on resume."""
import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from stmixer_mm.registry import HOOKS


def get_rng_state() -> Dict[str, Any]:
    """The states of the global random generators a training step uses:
    ``python``, ``numpy``, ``torch`` (CPU) and, if initialised, ``cuda``."""
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        cuda = state['cuda']
        if len(cuda) != torch.cuda.device_count():
            raise RuntimeError(
                f'the checkpoint holds the RNG state of {len(cuda)} CUDA '
                f'devices, this process sees {torch.cuda.device_count()}')
        torch.cuda.set_rng_state_all(cuda)


def _train_sampler(runner):
    loader = runner.train_loop.dataloader
    sampler = getattr(loader, 'sampler', None)
    if sampler is not None and hasattr(sampler, 'seed'):
        return sampler
    batch_sampler = getattr(loader, 'batch_sampler', None)
    sampler = getattr(batch_sampler, 'sampler', None)
    return sampler if hasattr(sampler, 'seed') else None


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random state (and the train sampler's ``seed``) in
    checkpoints as ``rng_state`` and restore it on resume (mmengine
    re-seeds); validation is RNG-neutral. Exact for the epoch-based loop,
    not with ``persistent_workers=True`` (warned) nor ``diff_rank_seed``
    (docs/en/train_test.md)."""

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._resumed: Optional[Dict[str, Any]] = None
        self._before_val: Optional[Dict[str, Any]] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Save the random state as ``checkpoint['rng_state']``.

        Args:
            runner (Runner): Gives the train loop's sampler.
            checkpoint (dict): The checkpoint to save; gets ``rng_state``:
                :func:`get_rng_state`'s (the state before validation when
                saved during it) and ``sampler_seed`` (None without a
                seeded sampler).
        """
        state = self._before_val if self._before_val is not None \
            else get_rng_state()
        sampler = _train_sampler(runner) if runner.train_loop is not None \
            and not isinstance(runner.train_loop, dict) else None
        checkpoint['rng_state'] = dict(
            state, sampler_seed=None if sampler is None else sampler.seed)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the checkpoint's ``rng_state`` for :meth:`before_train`.

        Args:
            runner (Runner): The runner (unused).
            checkpoint (dict): The loaded checkpoint.
        """
        # Runner.resume re-seeds after this call: only keep the state here
        # (a file holding no dict: ResumeCheckHook / LoadFromCheckHook say so)
        self._resumed = checkpoint.get('rng_state') if isinstance(
            checkpoint, dict) else None

    def before_train(self, runner) -> None:
        state, self._resumed = self._resumed, None
        if runner.iter == 0:
            return  # a fresh run, or weights loaded for fine-tuning
        if state is None:
            runner.logger.warning(
                'RandomStateHook: the resumed checkpoint has no rng_state '
                '(written without this hook): the random augmentation after '
                'the resume differs from an uninterrupted run')
            return
        set_rng_state(state)
        sampler = _train_sampler(runner)
        if sampler is not None and state.get('sampler_seed') is not None:
            sampler.seed = state['sampler_seed']
        runner.logger.info(
            'RandomStateHook: restored the Python/NumPy/torch random state '
            f'and the sampler seed {state.get("sampler_seed")} of iteration '
            f'{runner.iter}')
        loader = runner.train_loop.dataloader
        if getattr(loader, 'num_workers', 0) > 0 and getattr(
                loader, 'persistent_workers', False):
            runner.logger.warning(
                'RandomStateHook: persistent dataloader workers keep random '
                'states of their own, which checkpoints do not hold: the '
                'augmentation after this resume differs from an '
                'uninterrupted run (persistent_workers=False resumes '
                'exactly)')

    def before_val(self, runner) -> None:
        self._before_val = get_rng_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_state(self._before_val)
        self._before_val = None
