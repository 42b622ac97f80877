"""The names of a model's action columns (for the demo, the inference API and
``tools/test.py``), checked against the model. Column 0 is the background,
column ``i`` AVA label id ``i`` (1-based) or ACT label ``i - 1``.

A config may name a label map at its top level (``label_map = ...``): the
names of its model's columns where neither its data nor the checkpoint
gives them. The AVA v2.2 configs name the 80 AVA actions shipped with the
package (``'stmixer_mm::ava_action_list_v2.2.pbtxt'``), so an official
checkpoint, which carries no names, runs without a user's label map."""
import os.path as osp
import pickle
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

from stmixer_mm.registry import DATASETS
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_pickle)
from stmixer_mm.utils.model_wrappers import unwrap_model
from stmixer_mm.utils.type_names import type_name
from .label_map import read_pbtxt_label_map, resolve_label_map

__all__ = [
    'load_label_map', 'check_label_map', 'class_names', 'find_action_columns',
    'model_action_columns', 'test_dataset_cfg', 'classes_to_names'
]


def test_dataset_cfg(cfg) -> Optional[dict]:
    """The innermost dataset config of ``test_dataloader`` (else
    ``val_dataloader``), through dataset wrappers."""
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = loader_dataset_cfg(
            cfg.get(key) if hasattr(cfg, 'get') else None)
        if dataset is not None:
            return dataset
    return None


def find_action_columns(model) -> Optional[Tuple[int, str]]:
    """``(num_actions, label_convention)`` of a built STMixer-style model
    (its ``roi_head``, wrappers looked into), None for other models."""
    decoder = getattr(unwrap_model(model), 'roi_head', None)
    num_actions = getattr(decoder, 'num_actions', None)
    if not isinstance(num_actions, int):
        return None
    return num_actions, getattr(decoder, 'label_convention', 'ava')


def model_action_columns(model) -> Tuple[int, str]:
    """:func:`find_action_columns`, an error for a model without them."""
    found = find_action_columns(model)
    if found is None:
        raise TypeError(f'{type(model).__name__} has no roi_head with '
                        'num_actions: cannot name its action columns')
    return found


def _read_act_labels(path: str) -> Dict[int, str]:
    try:
        gt = load_pickle(
            path, 'numpy', 'label map (ACT ground truth)', trust_option='')
    except CheckpointFileError as e:  # a refused global
        raise ValueError(f'label map {e}') from None
    except (pickle.UnpicklingError, EOFError, UnicodeDecodeError, ValueError,
            AttributeError, ImportError, IndexError) as e:
        raise ValueError(
            f'label map {path} is not a readable pickle (truncated or '
            f'corrupt: {type(e).__name__}: {e})') from None
    labels = gt.get('labels') if isinstance(gt, dict) else None
    if not isinstance(labels, (list, tuple)) or not labels or not all(
            isinstance(x, str) for x in labels):
        raise ValueError(
            f'label map {path}: expected an ACT ground-truth pickle with a '
            "'labels' list of class names")
    return {i + 1: name for i, name in enumerate(labels)}


def load_label_map(path: str) -> Dict[int, str]:
    """``{column: name}`` of an AVA ``.pbtxt`` label map or an ACT ``.pkl``.

    Args:
        path (str): The file, or ``stmixer_mm::NAME`` (a label map shipped
            with the package, :func:`resolve_label_map`).

    Returns:
        dict[int, str]: ``{column: name}``.

    Raises:
        ValueError: missing, empty, wrong kind, or a bad entry (named).
    """
    path = resolve_label_map(path)
    if not osp.isfile(path):
        raise ValueError(f'label map {path}: no such file')
    if path.endswith(('.pkl', '.pickle')):
        return _read_act_labels(path)
    return read_pbtxt_label_map(path)


def check_label_map(names: Dict[int, str],
                    num_actions: int,
                    source: str,
                    allowed_unnamed: Iterable[int] = ()) -> None:
    """Check that every column ``1..num_actions`` is named once (except
    ``allowed_unnamed``: AVA v2.2 evaluates 60 of 80 ids), column 0 (the
    background) unnamed, no id beyond the model's, no name twice.

    Args:
        names (dict[int, str]): ``{column: name}``, columns 1-based as the
            model's action columns (AVA label ids).
        num_actions (int): The model's action columns, 1..num_actions.
        source (str): Where the names came from, named in the error.
        allowed_unnamed (Iterable[int]): Columns that may stay unnamed.
            Defaults to ().

    Raises:
        ValueError: listing the offending columns.
    """
    problems = []
    if 0 in names:
        problems.append(
            f'it names column 0 ({names[0]!r}), the background column: the '
            'ids look 0-based, the model\'s action ids are 1..'
            f'{num_actions}')
    beyond = sorted(i for i in names if i > num_actions or i < 0)
    if beyond:
        problems.append(f'ids {beyond} are beyond the model\'s '
                        f'{num_actions} action columns (1..{num_actions})')
    allowed = set(allowed_unnamed)
    unnamed = [
        i for i in range(1, num_actions + 1)
        if i not in names and i not in allowed
    ]
    if unnamed:
        problems.append(f'columns {unnamed} have no name')
    seen: Dict[str, int] = {}
    for i, name in sorted(names.items()):
        if name in seen:
            problems.append(f'{name!r} names columns {seen[name]} and {i}')
        seen.setdefault(name, i)
    if problems:
        listing = ', '.join(f'{i}: {names[i]!r}' for i in sorted(names))
        raise ValueError(
            f'{source} does not fit the model ({num_actions} action columns '
            f'1..{num_actions}, column 0 the background): ' +
            '; '.join(problems) + f'. It maps {{{listing}}}')


def classes_to_names(classes: Sequence) -> Tuple[Dict[int, str], list]:
    """``({column: name}, [unlisted columns])``: ``classes[i]`` names
    column ``i + 1``; ``None`` (unlisted) stays unnamed."""
    names = {i + 1: str(n) for i, n in enumerate(classes) if n is not None}
    unlisted = [i + 1 for i, n in enumerate(classes) if n is None]
    return names, unlisted


def _cfg_label_file(dataset: dict) -> Optional[str]:
    path = dataset.get('label_file')
    found = isinstance(path, str) and osp.isfile(path)
    return path if found else None


def _cfg_label_map(cfg) -> Optional[str]:
    """The config's top-level ``label_map`` (None where unset)."""
    path = cfg.get('label_map') if hasattr(cfg, 'get') else None
    if path is not None and not isinstance(path, str):
        raise ValueError(
            "the config's label_map must be a label map file (.pbtxt / "
            f".pkl) or 'stmixer_mm::NAME', got {type(path).__name__} "
            f'{path!r}')
    return path


def class_names(model,
                label_map: Optional[str] = None,
                cfg=None,
                dataset_meta: Optional[dict] = None) -> Dict[int, str]:
    """``{column: name}`` of ``model``'s action columns, checked against it.

    The names come from ``label_map`` if given, else the test dataset's
    ``label_file``, a ``TubeDataset``'s ``classes`` or the labels of its
    ``ann_file``, else the checkpoint's ``dataset_meta['classes']``, else
    the config's top-level ``label_map`` (the AVA v2.2 configs: the 80 AVA
    actions shipped with the package).

    Args:
        model (nn.Module): The detector (``cfg``, ``dataset_meta`` set),
            with ``roi_head.num_actions`` and ``label_convention='ava'``.
        label_map (str, optional): An explicit label map file (AVA
            ``.pbtxt`` or ACT ``.pkl``). Defaults to None.
        cfg (Config, optional): Defaults to ``model.cfg``.
        dataset_meta (dict, optional): Defaults to ``model.dataset_meta``.

    Returns:
        dict[int, str]: ``{column: name}``, columns 1..num_actions (column
        0, the background, unnamed); columns the label map does not list
        (AVA v2.2's unevaluated ids) are absent.

    Raises:
        ValueError: the names misfit the model, differ from the
            checkpoint's classes in a column, or none are found.
    """
    num_actions, convention = model_action_columns(model)
    if convention != 'ava':
        raise ValueError(
            f"label_convention='{convention}': the columns are the mmdet "
            'dataset\'s 0-based classes; take the names from its metainfo')
    cfg = cfg if cfg is not None else getattr(model, 'cfg', None)
    dataset_meta = dataset_meta if dataset_meta is not None else getattr(
        model, 'dataset_meta', None)
    dataset = (test_dataset_cfg(cfg) if cfg is not None else None) or {}
    dataset_type = dataset_family(dataset.get('type'))
    allowed: Sequence[int] = ()
    if dataset.get('unlisted_labels') == 'warn':
        # AVA v2.2: 80 annotated ids, the label map lists the 60 evaluated
        allowed = range(1, num_actions + 1)

    if label_map is not None:
        names = load_label_map(label_map)
        own = _cfg_label_file(dataset)
        own = None if own is None else set(load_label_map(own))
        if own is not None and allowed:
            allowed = [i for i in range(1, num_actions + 1) if i not in own]
        check_label_map(names, num_actions, f'label map {label_map}', allowed)
        return names

    source, names = None, None
    if _cfg_label_file(dataset):
        source = f"the config's label map {dataset['label_file']}"
        names = load_label_map(dataset['label_file'])
    elif dataset_type == 'TubeDataset' and dataset.get('classes'):
        source = "the config's TubeDataset classes"
        names = {i + 1: n for i, n in enumerate(dataset['classes'])}
    elif dataset_type == 'TubeDataset' and isinstance(
            dataset.get('ann_file'), str) and osp.isfile(dataset['ann_file']):
        source = f"the labels of {dataset['ann_file']}"
        names = _read_act_labels(dataset['ann_file'])
    ckpt_classes = dataset_meta.get('classes') if isinstance(
        dataset_meta, dict) else None
    if names is None and ckpt_classes:
        source = "the checkpoint's meta.dataset_meta.classes"
        names, unlisted = classes_to_names(ckpt_classes)
        # ids the training label map did not list (None) stay unnamed
        allowed = sorted(set(allowed) | set(unlisted))
    elif names is not None and ckpt_classes:
        # config names that differ, in the same column, from the
        # checkpoint's (unnamed columns are not compared)
        trained, _ = classes_to_names(ckpt_classes)
        differ = [(col, names[col], trained[col]) for col in sorted(names)
                  if col in trained and names[col] != trained[col]]
        if differ:
            shown = ', '.join(f'column {c}: {a!r} vs {b!r}'
                              for c, a, b in differ[:8])
            more = f' (and {len(differ) - 8} more)' if len(differ) > 8 else ''
            raise ValueError(
                f'{source} names {len(differ)} action column(s) differently '
                "from the checkpoint's meta.dataset_meta.classes (the classes "
                f'it was trained with): {shown}{more}. Use the config of the '
                'data set the checkpoint was trained on, or pass the label '
                'map to use explicitly (--label-map / label_map=)')
    own_map = _cfg_label_map(cfg) if names is None else None
    if own_map is not None:
        source = f"the config's label_map {own_map}"
        names = load_label_map(own_map)
    if names is None:
        raise ValueError(
            'no class names for the model\'s action columns: the config\'s '
            f'test dataset has no label_file / classes on disk ('
            f'{dataset.get("label_file") or dataset.get("ann_file")!r}), '
            'the checkpoint has no meta.dataset_meta.classes and the '
            'config sets no label_map; pass a label map (--label-map '
            'FILE.pbtxt or an ACT .pkl)')
    check_label_map(names, num_actions, source, allowed)
    return names


#: mmaction2's AVA frame-mAP and the project's equal one (label ids
#: 1-based, as every AVA data set's: column 0 the background)
AVA_METRICS = ('AVAMetric', 'CompactAVAMetric')
#: the data sets whose subclasses (a project's too) read files as they do
DATASET_FAMILIES = ('AVADataset', 'TubeDataset')


def dataset_family(data_type: Any) -> str:
    """The first of :data:`DATASET_FAMILIES` among the bases of the class
    ``data_type`` names (a registered name, scoped or not, or a class), so
    that a subclass (``AVAActorDataset``, a project's) is read as the data
    set it extends; else ``type_name(data_type)``.

    Args:
        data_type (str | type): A data set's (or metric's) ``type``.

    Returns:
        str: ``'AVADataset'``, ``'TubeDataset'`` or the type's own name.
    """
    cls = data_type
    if isinstance(data_type, str):
        try:
            cls = DATASETS.get(data_type)
        except KeyError:  # (an unknown scope)
            cls = None
    for base in getattr(cls, '__mro__', ()):
        if base.__name__ in DATASET_FAMILIES:
            return base.__name__
    return type_name(data_type)


def counts_background(data_type: Any) -> bool:
    """Whether a data set or metric type counts the background as class 0
    (AVA's: 1-based label ids, ``num_classes`` with column 0)."""
    return type_name(data_type) in AVA_METRICS or \
        dataset_family(data_type) == 'AVADataset'


def check_action_classes(num_actions: int, label_convention: str,
                         num_classes: int, data_type: str) -> None:
    """The decoder's ``num_actions`` fits a dataset's / metric's classes,
    else ``ValueError``: with ``label_convention='ava'`` (``num_actions + 1``
    columns, 0 the background) AVA types need ``num_classes - 1``,
    ``TubeDataset`` ``num_classes``; others and ``'mmdet'`` are unchecked."""
    if label_convention != 'ava':
        return
    name = type_name(data_type)
    if counts_background(data_type):
        expected = num_classes - 1
        why = (f'{name} num_classes={num_classes} counts the '
               'background column 0')
    elif dataset_family(data_type) == 'TubeDataset':
        expected = num_classes
        why = f'{name} has {num_classes} action labels'
    else:
        return
    if num_actions != expected:
        raise ValueError(
            f'the decoder has num_actions={num_actions} but {why}, so the '
            f'model needs num_actions={expected}; with another number every '
            'action column would be read as another class')


def loader_dataset_cfg(loader: Any) -> Optional[dict]:
    """The innermost dataset config of a dataloader config (through
    RepeatDataset / ClassBalancedDataset wrappers)."""
    dataset = loader.get('dataset') if isinstance(loader, dict) else None
    while isinstance(dataset, dict) and isinstance(
            dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    return dataset if isinstance(dataset, dict) else None
