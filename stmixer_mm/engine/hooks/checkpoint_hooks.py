"""Hooks that check the checkpoints the Runner loads: that they fit the
model (:class:`CheckpointCheckHook`, strict, for testing), that a training
``load_from`` gives most of the model (:class:`LoadFromCheckHook`) and, for
``--resume``, that they hold a training state of this very model
(:class:`ResumeCheckHook`)."""
from typing import Optional

from mmengine.hooks import Hook

from stmixer_mm.registry import HOOKS
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 find_state_dict)
from ..checkpoint import (LOAD_FROM_MIN_LOADED, CheckpointMismatchError,
                          check_checkpoint_fits, check_load_from_fits,
                          state_dict_mismatches)

__all__ = ['CheckpointCheckHook', 'ResumeCheckHook', 'LoadFromCheckHook']


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Check every checkpoint the Runner loads against its model.

    ``after_load_checkpoint`` runs after the file is read and before the
    weights are copied, so with ``strict`` a checkpoint that does not fit
    stops the run before anything is computed (on every rank). Used by
    ``tools/test.py``; mmengine's own ``load_from`` is non-strict.

    Args:
        strict (bool): raise :class:`CheckpointMismatchError` instead of
            warning. Defaults to True.
        opt_out (str): the opt-out named in the message.
        source (str, optional): the checkpoint's name in the message.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 strict: bool = True,
                 opt_out: str = '--non-strict',
                 source: Optional[str] = None) -> None:
        self.strict = strict
        self.opt_out = opt_out
        self.source = source

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        check_checkpoint_fits(
            runner.model,
            checkpoint,
            strict=self.strict,
            source=f'checkpoint {self.source}'
            if self.source else 'the checkpoint',
            opt_out=self.opt_out,
            logger=runner.logger)
        if 'state_dict' not in checkpoint:
            # mmengine loads ``state_dict`` or else the whole dict: give it
            # the weights that were checked (e.g. a ``{'model': ...}`` file)
            checkpoint['state_dict'], _ = find_state_dict(
                checkpoint, bare_values='any')


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """Check a checkpoint loaded for ``--resume`` before mmengine reads its
    training state: a checkpoint without ``meta`` (epoch, iteration) (e.g.
    a bare state dict or a converted official model)
    is an error naming the file, instead of a ``KeyError: 'meta'``. Added
    by ``tools/train.py`` when resuming.

    Args:
        source (str, optional): the checkpoint's name in the message
            (default: the work dir's latest).
    """

    priority = 'VERY_HIGH'

    def __init__(self, source: Optional[str] = None) -> None:
        self.source = source

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return
        source = self.source
        if source is None:
            from mmengine.runner import find_latest_checkpoint
            source = find_latest_checkpoint(runner.work_dir) or 'checkpoint'
        # (a sharded checkpoint's weights are read apart from this dict,
        # so only the training state is required here)
        meta = checkpoint.get('meta')
        missing = [] if isinstance(meta, dict) and 'epoch' in meta and \
            'iter' in meta else ['meta.epoch / meta.iter']
        if missing:
            raise CheckpointFileError(
                f'--resume: {source} is not a training checkpoint of '
                f'tools/train.py (it lacks {missing}; it has '
                f'{sorted(checkpoint)[:8]}); to start from its weights use '
                '--cfg-options load_from=<file> without --resume')
        # resuming continues the run that wrote the checkpoint: its model,
        # every key with its shape (mmengine would load the rest with size
        # warnings, then fail in the optimizer's state). Sharded runs
        # (FlexibleRunner) read their weights apart from this dict.
        if 'state_dict' in checkpoint and not hasattr(runner, 'strategy'):
            mismatch = state_dict_mismatches(
                runner.model, {
                    k[len('module.'):] if k.startswith('module.') else k: v
                    for k, v in checkpoint['state_dict'].items()
                })
            if any(mismatch.values()):
                raise CheckpointMismatchError(
                    f'--resume: {source}',
                    mismatch,
                    '',
                    summary='resuming needs the model that wrote it; '
                    f'{_counts(mismatch)}.',
                    advice='Resume with the config that wrote it; to '
                    'fine-tune from its weights, train with --cfg-options '
                    'load_from=<file> without --resume.')


def _counts(mismatch: dict) -> str:
    return (f'{len(mismatch["shape"])} parameters of another shape, '
            f'{len(mismatch["missing"])} missing, '
            f'{len(mismatch["unexpected"])} unexpected')


@HOOKS.register_module()
class LoadFromCheckHook(Hook):
    """Check a training ``load_from`` checkpoint (loaded non-strictly by
    mmengine) before its weights are copied: at least ``min_loaded`` of
    the model's values must come from it (keys the model has, with the
    model's shape), else the run stops naming the counts and the keys;
    what does not load is logged as a warning
    (:func:`~stmixer_mm.engine.checkpoint.check_load_from_fits`). Added by
    ``tools/train.py`` when the config sets ``load_from`` without
    resuming; ``load_from_min_loaded`` in the config sets ``min_loaded``
    (0 accepts any checkpoint).

    Args:
        min_loaded (float): share in [0, 1]. Defaults to 0.5.
        source (str, optional): the checkpoint's name in the message.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 min_loaded: float = LOAD_FROM_MIN_LOADED,
                 source: Optional[str] = None) -> None:
        if isinstance(min_loaded, bool) or not isinstance(
                min_loaded, (int, float)) or not 0 <= min_loaded <= 1:
            raise ValueError('load_from_min_loaded: expected a float in '
                             f'[0, 1], got {min_loaded!r}')
        self.min_loaded = float(min_loaded)
        self.source = source

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False) or hasattr(runner, 'strategy'):
            return
        check_load_from_fits(
            runner.model,
            checkpoint,
            min_loaded=self.min_loaded,
            source=f'load_from {self.source}' if self.source else 'load_from',
            opt_out='--cfg-options load_from_min_loaded=0',
            logger=runner.logger)
        if 'state_dict' not in checkpoint:
            # mmengine loads ``state_dict`` or else the whole dict: give it
            # the weights that were checked (e.g. a ``{'model': ...}`` file,
            # which would otherwise pass the check and load nothing)
            checkpoint['state_dict'], _ = find_state_dict(
                checkpoint, bare_values='any')
