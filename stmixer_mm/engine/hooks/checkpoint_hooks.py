"""Hooks that check the checkpoints the Runner loads (test, ``load_from``,
``--resume``) before their weights are copied."""
import ast
from typing import List, Optional, Sequence, Set, Tuple

import torch
from mmengine.hooks import Hook

from stmixer_mm.datasets.class_names import model_action_columns
from stmixer_mm.registry import HOOKS
from stmixer_mm.utils.checkpoint_loading import CheckpointFileError
from stmixer_mm.utils.checks import check_choice, check_range
from stmixer_mm.utils.model_wrappers import unwrap_model
from ..checkpoint import (LOAD_FROM_MIN_LOADED, CheckpointMismatchError,
                          check_checkpoint_dict, check_checkpoint_fits,
                          check_load_from_fits, checkpoint_state_dict,
                          give_state_dict, state_dict_mismatches)
from ..class_remap import (action_class_keys, checkpoint_classes,
                           classes_from_label_map, dataset_classes,
                           remap_action_classes)

__all__ = ['CheckpointCheckHook', 'ResumeCheckHook', 'LoadFromCheckHook']


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Check every checkpoint the Runner loads against its model, before
    its weights are copied (used by ``tools/test.py``).

    Args:
        strict (bool): Raise :class:`CheckpointMismatchError`, not warn.
        opt_out (str): The opt-out named in the message.
        source (str, optional): The checkpoint's name in the message.
        check_classes (bool): Also compare ``meta.dataset_meta.classes``
            with the test dataset's (error if ``strict``, else warning).
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 strict: bool = True,
                 opt_out: str = '--non-strict',
                 source: Optional[str] = None,
                 check_classes: bool = True) -> None:
        check_choice(
            'CheckpointCheckHook', (True, False),
            strict=strict,
            check_classes=check_classes)
        self.strict = strict
        self.opt_out = opt_out
        self.source = source
        self.check_classes = check_classes
        self._name = f'checkpoint {source}' if source else 'the checkpoint'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check the loaded checkpoint, then put its weights under
        ``state_dict`` (the key mmengine copies from).

        Args:
            runner (Runner): Gives the model, the test dataloader and the
                logger.
            checkpoint (dict): The loaded checkpoint file; changed in place.

        Raises:
            CheckpointFileError: The file held no dict.
            CheckpointMismatchError: With ``strict``: weights that do not
                fit, or (``check_classes``) other classes than the test
                dataset's in the same columns.
        """
        check_checkpoint_fits(
            runner.model,
            checkpoint,
            strict=self.strict,
            source=self._name,
            opt_out=self.opt_out,
            logger=runner.logger)
        # the checkpoint's classes are the test dataset's, column by column
        # (else scores meet the wrong ground truth)
        ck_classes = checkpoint_classes(checkpoint) if self.check_classes \
            else None
        dataset = getattr(
            getattr(runner, '_test_dataloader', None), 'dataset', None)
        ds_classes = None
        if self.check_classes and ck_classes and dataset is not None:
            try:
                num_actions, convention = model_action_columns(
                    unwrap_model(runner.model))
            except TypeError:
                convention = None
            if convention == 'ava':
                ds_classes = dataset_classes(dataset, num_actions)
        if ds_classes:
            differ = [(i + 1, a, b)
                      for i, (a, b) in enumerate(zip(ck_classes, ds_classes))
                      if a is not None and b is not None and a != b]
            if len(ck_classes) != len(ds_classes):
                differ.append(('count', len(ck_classes), len(ds_classes)))
            if not differ:
                runner.logger.info(
                    'the checkpoint\'s classes (meta.dataset_meta.classes) '
                    'are the test dataset\'s: ' + ', '.join(
                        f'{i + 1}: {c}'
                        for i, c in enumerate(ck_classes) if c is not None))
            else:
                listing = '; '.join(
                    f'column {i}: checkpoint {a!r}, dataset {b!r}'
                    for i, a, b in differ[:20])
                message = (
                    f'checkpoint {self.source or ""} was trained on other '
                    'classes than the test dataset names in the same columns '
                    f'({listing}): its scores would be evaluated against the '
                    'wrong classes')
                if self.strict:
                    raise CheckpointMismatchError(
                        self._name,
                        dict(missing=[], unexpected=[], shape=[]),
                        self.opt_out,
                        summary=message,
                        advice='Fine-tune it onto these classes '
                        "(load_from_classes='by_name', docs/en/finetune.md) "
                        f'or pass {self.opt_out} to evaluate anyway.')
                runner.logger.warning(message)
        give_state_dict(checkpoint)


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """Check a ``--resume`` checkpoint before mmengine reads its training
    state: it must hold ``meta`` epoch / iter and fit the model exactly.

    Args:
        source (str, optional): Its name (default: the work dir's latest).
    """

    priority = 'VERY_HIGH'

    def __init__(self, source: Optional[str] = None) -> None:
        self.source = source

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check a resumed checkpoint (nothing when not resuming).

        Args:
            runner (Runner): Gives the model, the work dir and whether it
                resumes.
            checkpoint (dict): The loaded checkpoint file.

        Raises:
            CheckpointFileError: The file held no dict, or no ``meta``
                epoch / iter.
            CheckpointMismatchError: Its weights do not fit the model
                exactly, or it was trained with other frozen parts
                (``model.frozen_modules``) / another optimizer layout
                than its optimizer state can be loaded into (non-sharded
                runs).
        """
        if not getattr(runner, '_resume', False):
            return
        source = self.source
        if source is None:
            from mmengine.runner import find_latest_checkpoint
            source = find_latest_checkpoint(runner.work_dir) or 'checkpoint'
        check_checkpoint_dict(checkpoint, f'--resume: {source}')
        meta = checkpoint.get('meta')
        if not (isinstance(meta, dict) and 'epoch' in meta and 'iter' in meta):
            raise CheckpointFileError(
                f'--resume: {source} is not a training checkpoint of '
                "stmixer-train (it lacks ['meta.epoch / meta.iter']; it has "
                f'{sorted(checkpoint)[:8]}); to start from its weights use '
                '--cfg-options load_from=<file> without --resume')
        # the very model (mmengine would fail in the optimizer's state);
        # sharded runs read their weights apart from this dict
        if 'state_dict' not in checkpoint or hasattr(runner, 'strategy'):
            return
        mismatch = state_dict_mismatches(runner.model,
                                         checkpoint_state_dict(checkpoint))
        if any(mismatch.values()):
            raise CheckpointMismatchError(
                f'--resume: {source}',
                mismatch,
                '',
                summary='resuming needs the model that wrote it; '
                f'{len(mismatch["shape"])} parameters of another shape, '
                f'{len(mismatch["missing"])} missing, '
                f'{len(mismatch["unexpected"])} unexpected.',
                advice='Resume with the config that wrote it; to '
                'fine-tune from its weights, train with --cfg-options '
                'load_from=<file> without --resume.')
        # the config's model.frozen_modules freeze the parameters the
        # checkpoint was trained with frozen (trained_frozen_modules) and
        # its optimizer state has the parameter groups of the config's
        # optimizer (else torch fails: "loaded state dict has a different
        # number of parameter groups", or moves the state onto other
        # parameters); an optimizer that holds every parameter loads with
        # other frozen parts: a warning says so
        model = unwrap_model(runner.model)
        current = tuple(getattr(model, 'frozen_modules', None) or ())
        trained = trained_frozen_modules(checkpoint)
        names = [n for n, _ in model.named_parameters()]
        differ = trained is not None and \
            _frozen_parameters(names, trained) != \
            _frozen_parameters(names, current)
        saved = checkpoint.get('optimizer')
        optimizer = getattr(
            getattr(runner, 'optim_wrapper', None), 'optimizer', None)
        sizes = saved_sizes = None
        if isinstance(optimizer, torch.optim.Optimizer) and isinstance(
                saved, dict) and isinstance(saved.get('param_groups'), list):
            sizes = [len(g['params']) for g in optimizer.param_groups]
            saved_sizes = [
                len(g.get('params', ())) if isinstance(g, dict) else -1
                for g in saved['param_groups']
            ]
        if not differ and sizes == saved_sizes:
            return
        if trained is None:
            what = ('its meta.cfg does not say which parts it was trained '
                    'with frozen; the config has model.frozen_modules='
                    f'{list(current)}')
        elif differ:
            what = (f'it was trained with model.frozen_modules='
                    f'{list(trained)} (its meta.cfg), the config has '
                    f'{list(current)}')
        else:
            what = (f'it was trained with the same model.frozen_modules='
                    f'{list(current)} (its meta.cfg)')
        if (sizes is not None and sizes == saved_sizes
                and sum(sizes) == len(names)) or 'optimizer' not in checkpoint:
            # the state maps onto the very parameters (or there is none)
            runner.logger.warning(
                f'--resume: {source}: {what}: the run goes on with the '
                'parts the config freezes (not the run that wrote it)')
            return
        if sizes is None:
            optim = ('its optimizer state holds the parameters trained '
                     'then')
        elif sizes != saved_sizes:
            optim = (f'its optimizer state has {len(saved_sizes)} parameter '
                     f'groups ({sum(saved_sizes)} parameters), the '
                     f"config's optimizer {len(sizes)} ({sum(sizes)} "
                     'parameters)')
        else:
            optim = ("the config's optimizer holds only the trainable "
                     'parameters: the saved state would go onto other '
                     'parameters')
        raise CheckpointMismatchError(
            f'--resume: {source}',
            dict(missing=[], unexpected=[], shape=[]),
            '',
            summary=f'{what}; {optim}.',
            advice='Resume with the model.frozen_modules (and the '
            'optim_wrapper.paramwise_cfg / constructor, the parts\' own '
            'freezing such as the backbone\'s frozen_stages) it was '
            'trained with; to train other parts from its weights, start a '
            'new run with --cfg-options load_from=<file> without --resume.')


def _frozen_parameters(names: List[str],
                       frozen_modules: Sequence[str]) -> Set[str]:
    """The parameter ``names`` under the parts ``frozen_modules`` name."""
    prefixes = tuple(f'{m}.' for m in frozen_modules)
    return {n for n in names if n.startswith(prefixes)}


def trained_frozen_modules(checkpoint: dict) -> Optional[Tuple[str, ...]]:
    """The ``model.frozen_modules`` a Runner checkpoint was trained with,
    read without running it from the config text mmengine saves in its
    ``meta.cfg`` (the config as merged, ``--cfg-options`` included).

    Args:
        checkpoint (dict): The loaded checkpoint.

    Returns:
        tuple[str] | None: The names (empty: nothing frozen); None when
        unknown (no ``meta.cfg``, or not a plain ``model = dict(...)``).
    """
    meta = checkpoint.get('meta')
    text = meta.get('cfg') if isinstance(meta, dict) else None
    if not isinstance(text, str):
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    items = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'model'
                for t in node.targets):
            value, items = node.value, None
            if isinstance(value, ast.Call) and isinstance(
                    value.func, ast.Name) and value.func.id == 'dict' and \
                    not value.args and all(k.arg for k in value.keywords):
                items = {k.arg: k.value for k in value.keywords}
            elif isinstance(value, ast.Dict) and all(
                    isinstance(k, ast.Constant) for k in value.keys):
                items = {k.value: v for k, v in zip(value.keys, value.values)}
    if items is None:
        return None
    if 'frozen_modules' not in items:
        return ()
    try:
        names = ast.literal_eval(items['frozen_modules'])
    except (ValueError, TypeError, SyntaxError):
        return None
    if isinstance(names,
                  (list, tuple)) and all(isinstance(n, str) for n in names):
        return tuple(names)
    return None


LOAD_FROM_CLASSES = (None, 'by_name')


def _cfg_value(runner, key: str):
    """``runner.cfg.get(key)``, None for a runner without a config.

    Args:
        runner (Runner): The runner.
        key (str): A top-level key of its config.

    Returns:
        The value, or None.
    """
    cfg = getattr(runner, 'cfg', None)
    return None if cfg is None else cfg.get(key)


@HOOKS.register_module()
class LoadFromCheckHook(Hook):
    """Check a training ``load_from`` checkpoint before its weights are
    copied: at least ``min_loaded`` of the model's values must come from it
    (:func:`check_load_from_fits`); with ``classes='by_name'`` the action
    classifier rows are mapped by name (:func:`remap_action_classes`) and
    every other key must fit exactly (docs/en/finetune.md).

    Args:
        min_loaded (float): In [0, 1] (``load_from_min_loaded``; 0: any).
        source (str, optional): The checkpoint's name in the message.
        classes (str, optional): None (default: the config's
            ``load_from_classes``) or ``'by_name'``.
        label_map (str, optional): The checkpoint's (default: the config's
            ``load_from_label_map``, else its ``meta.dataset_meta.classes``).
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 min_loaded: float = LOAD_FROM_MIN_LOADED,
                 source: Optional[str] = None,
                 classes: Optional[str] = None,
                 label_map: Optional[str] = None) -> None:
        check_range(type(self).__name__, '[0, 1]', min_loaded=min_loaded)
        self.min_loaded = float(min_loaded)
        self.source = source
        check_choice(
            type(self).__name__, LOAD_FROM_CLASSES, load_from_classes=classes)
        self.classes = classes
        self.label_map = label_map

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check (and with ``'by_name'`` remap) a ``load_from`` checkpoint
        in place; nothing when resuming.

        Args:
            runner (Runner): Gives the model, the config, the training
                dataloader and the logger.
            checkpoint (dict): The loaded checkpoint file; its weights end
                under ``state_dict``.

        Raises:
            CheckpointFileError: The file held no dict.
            CheckpointMismatchError: Less than ``min_loaded`` loads, or
                (``'by_name'``) a key other than the classifier's misfits.
            ValueError: The config's ``load_from_classes`` is not one of
                :data:`LOAD_FROM_CLASSES`; the classes cannot be mapped by
                name (or a sharded run asks for it).
        """
        if getattr(runner, '_resume', False):
            return
        classes = self.classes
        if classes is None:  # (``__init__`` refused any other)
            classes = _cfg_value(runner, 'load_from_classes')
            check_choice(
                type(self).__name__,
                LOAD_FROM_CLASSES,
                load_from_classes=classes)
        if hasattr(runner, 'strategy'):
            if classes == 'by_name':
                # sharded runs read their weights apart from this dict
                raise ValueError(
                    "load_from_classes='by_name' is not supported with "
                    'FlexibleRunner (sharded) training: map the classes '
                    'first (a non-sharded run, or stmixer-convert-official '
                    '--to-classes: tools/model_converters/'
                    'convert_official_checkpoint.py in a checkout)')
            return
        source = f'load_from {self.source}' if self.source else 'load_from'
        check_checkpoint_dict(checkpoint, source)
        if classes == 'by_name':
            self._remap_by_name(runner, checkpoint, source)
            check_checkpoint_fits(
                runner.model,
                checkpoint,
                strict=True,
                source=f'{source} (action classes mapped by name)',
                opt_out='--cfg-options load_from_classes=None '
                'load_from_min_loaded=0',
                logger=runner.logger)
            return
        check_load_from_fits(
            runner.model,
            checkpoint,
            min_loaded=self.min_loaded,
            source=source,
            opt_out='--cfg-options load_from_min_loaded=0',
            logger=runner.logger)
        give_state_dict(checkpoint)  # mmengine loads only ``state_dict``

    def _remap_by_name(self, runner, checkpoint: dict, source: str) -> None:
        model = unwrap_model(runner.model)
        num_actions = model_action_columns(model)[0]
        state = checkpoint['state_dict'] = checkpoint_state_dict(checkpoint)
        label_map = self.label_map
        if label_map is None:
            label_map = _cfg_value(runner, 'load_from_label_map')
        keys = action_class_keys(model)
        rows = state[keys[0]].shape[0] if keys[0] in state else None
        if label_map is not None:
            if rows is None:
                raise ValueError(
                    f'{source} has no {keys[0]}: no action classifier to '
                    'map by name')
            src_classes = classes_from_label_map(label_map, rows)
            src_what = f'load_from_label_map {label_map}'
        else:
            src_classes = checkpoint_classes(checkpoint)
            src_what = 'its meta.dataset_meta.classes'
        if not src_classes:
            raise ValueError(
                f"load_from_classes='by_name': the classes of {source} are "
                'unknown (it has no meta.dataset_meta.classes); name them '
                'with --cfg-options load_from_label_map=<its label map: AVA '
                '.pbtxt or ACT .pkl>')
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        dst_classes = dataset_classes(dataset, num_actions) \
            if dataset is not None else None
        if not dst_classes:
            raise ValueError(
                "load_from_classes='by_name': the training dataset's "
                'classes are unknown (no metainfo classes, no label_file)')
        remap_action_classes(
            state,
            model,
            src_classes,
            dst_classes,
            source=f'{source} (classes from {src_what})',
            logger=runner.logger)
