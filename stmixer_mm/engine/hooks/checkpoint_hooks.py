"""Hooks that check the checkpoints the Runner loads: that they fit the
model (:class:`CheckpointCheckHook`) and, for ``--resume``, that they hold a
training state (:class:`ResumeCheckHook`)."""
from typing import Optional

from mmengine.hooks import Hook

from stmixer_mm.registry import HOOKS
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 find_state_dict)
from ..checkpoint import check_checkpoint_fits

__all__ = ['CheckpointCheckHook', 'ResumeCheckHook']


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
