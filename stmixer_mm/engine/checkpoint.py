"""Strict checkpoint loading: a checkpoint that does not fit the model is an
error listing the missing, unexpected and mis-shaped keys (mmengine only
warns); partial loading needs an opt-out (``--non-strict``) and logs them."""
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.logging import MMLogger, print_log

from stmixer_mm.utils.checkpoint_loading import CheckpointFileError
from stmixer_mm.utils.model_wrappers import unwrap_model

__all__ = [
    'find_state_dict', 'STATE_DICT_KEYS', 'check_state_dict_values',
    'INTEGER_WEIGHTS', 'CheckpointMismatchError', 'checkpoint_state_dict',
    'state_dict_mismatches', 'check_checkpoint_fits', 'check_load_from_fits',
    'LOAD_FROM_MIN_LOADED', 'diff_state_dicts', 'give_state_dict',
    'check_checkpoint_dict', 'take_generated_tensors'
]

# keys a checkpoint may lack without changing outputs (as mmengine)
_IGNORED_MISSING = ('num_batches_tracked', )

#: Where a checkpoint keeps its weights, in lookup order: mmengine's
#: ``state_dict``, then ``model`` (official STMixer, VideoMAE, DeiT files).
STATE_DICT_KEYS = ('state_dict', 'model')


def find_state_dict(checkpoint: Mapping,
                    format_keys: Sequence[str] = (),
                    bare_values: str = 'tensor') -> Tuple[dict, str]:
    """``(weights, entry)`` of a loaded checkpoint (entry ``''`` if bare):
    the first of ``format_keys`` then :data:`STATE_DICT_KEYS` holding a dict,
    else a bare state dict.

    Args:
        checkpoint (Mapping): What the file held.
        format_keys (Sequence[str]): Entries looked up first (e.g. ``blobs``).
        bare_values (str): A bare state dict's values: ``'tensor'``,
            ``'array'`` (anything with a ``shape``) or ``'any'``.

    Raises:
        TypeError: ``checkpoint`` is not a dict.
        KeyError: no weights entry, and not a bare state dict.
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'expected a dict, got {type(checkpoint).__name__}')
    keys = tuple(format_keys) + STATE_DICT_KEYS
    for key in keys:
        if isinstance(checkpoint.get(key), Mapping):
            return dict(checkpoint[key]), key
    if bare_values != 'any':
        check = torch.is_tensor if bare_values == 'tensor' else (
            lambda v: hasattr(v, 'shape'))
        others = [k for k, v in checkpoint.items() if not check(v)]
        if others:
            entries = ' / '.join(f"'{k}'" for k in keys)
            raise KeyError(
                f'the checkpoint has no {entries} entry and is not a bare '
                f'state dict (non-tensor entries: {others[:5]})')
    return dict(checkpoint), ''


#: Suffixes of the weights that are integer counters in any model (BN's);
#: every other weight of a converted checkpoint is floating point.
INTEGER_WEIGHTS = ('num_batches_tracked', )


def _dtype_kind(tensor: torch.Tensor) -> str:
    if tensor.is_floating_point():
        return 'floating-point'
    if tensor.is_complex():
        return 'complex'
    return 'bool' if tensor.dtype == torch.bool else 'integer'


def check_state_dict_values(state_dict: Mapping,
                            expected: Optional[Mapping] = None) -> None:
    """Refuse a weight that is not a tensor (a list, a numpy array, a
    number: loaded, the parameter keeps its initial values and mmengine
    only logs it) or whose dtype kind is not the expected one (an integer
    tensor where a floating-point one is expected: loaded, it is cast).

    Args:
        state_dict (Mapping[str, Any]): The weights, ``{key: tensor}``.
        expected (Mapping[str, Tensor], optional): The model's
            ``state_dict()``: a key found there is held to its tensor's
            dtype kind; any other key (every key when None) is floating
            point, but for :data:`INTEGER_WEIGHTS` (integer). Defaults to
            None.

    Raises:
        ValueError: Naming each key (the first 5) with the type or dtype
            found and what is expected.
    """
    problems = []
    for key, value in state_dict.items():
        if not torch.is_tensor(value):
            problems.append(f'{key} holds a {type(value).__name__}, not a '
                            'tensor')
            continue
        ref = None if expected is None else expected.get(key)
        if torch.is_tensor(ref):
            want = _dtype_kind(ref)
        elif str(key).endswith(INTEGER_WEIGHTS):
            want = 'integer'
        else:
            want = 'floating-point'
        if _dtype_kind(value) != want:
            problems.append(f'{key} is a {value.dtype} tensor where a {want} '
                            'one is expected')
    if problems:
        more = f' (and {len(problems) - 5} more)' if len(problems) > 5 else ''
        raise ValueError('; '.join(problems[:5]) + more)


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's weights do not fit the model built from the config.

    Args:
        source (str): the checkpoint's name (its path) in the message.
        mismatch (dict): ``missing``, ``unexpected`` and ``shape`` lists,
            see :func:`state_dict_mismatches`.
        opt_out (str): the switch to partial loading, named in the
            message (``--non-strict``).
        summary (str, optional): a sentence after the first line (e.g.
            the share that loads). Defaults to None.
        advice (str, optional): replaces the advice to pass ``opt_out``.
            Defaults to None.
    """

    def __init__(self,
                 source: str,
                 mismatch: Dict[str, List],
                 opt_out: str,
                 summary: Optional[str] = None,
                 advice: Optional[str] = None) -> None:
        self.source = source
        self.mismatch = mismatch
        self.summary = summary
        self.advice = advice
        super().__init__(self.describe(opt_out))

    def describe(self, opt_out: str) -> str:
        """The message, naming ``opt_out`` (or ``advice``) as the way on."""
        summary = f' {self.summary}' if self.summary else ''
        advice = self.advice or (
            f'Pass {opt_out} to load the matching weights anyway (the rest '
            'keeps its initial values).')
        return (f'{self.source} does not fit the model built from the '
                f'config (wrong config or checkpoint?):{summary}\n'
                f'{_format(self.mismatch)}\n{advice}')


def check_checkpoint_dict(checkpoint, source: str = 'the checkpoint') -> None:
    """Refuse what a checkpoint file held when it is not a dict (mmengine's
    loader returns whatever the file holds).

    Args:
        checkpoint: What the file held.
        source (str): The checkpoint's name in the message (its path).

    Raises:
        CheckpointFileError: ``checkpoint`` is not a dict.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointFileError(
            f'{source} holds a {type(checkpoint).__name__}, not a checkpoint '
            '(a dict with state_dict / model weights)')


def checkpoint_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """The model weights of a loaded checkpoint (:func:`find_state_dict`),
    the DDP prefix ``module.`` stripped as mmengine's loader does."""
    state, _ = find_state_dict(checkpoint, bare_values='any')
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def give_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """Put the checkpoint's weights under ``state_dict`` and return them
    (mmengine loads ``state_dict`` or else the whole dict: a
    ``{'model': ...}`` file would pass a check and load nothing)."""
    if 'state_dict' not in checkpoint:
        checkpoint['state_dict'], _ = find_state_dict(
            checkpoint, bare_values='any')
    return checkpoint['state_dict']


def diff_state_dicts(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str,
                                                              torch.Tensor]
) -> Tuple[List[str], List[str], List[Tuple[str, tuple, tuple]]]:
    """How ``state_dict`` differs from ``expected``.

    Args:
        state_dict (Mapping[str, Tensor]): The checkpoint's weights.
        expected (Mapping[str, Tensor]): The model's
            (``model.state_dict()``).

    Returns:
        tuple[list, list, list]: Missing keys (``expected``'s order),
        unexpected keys and shape mismatches ``(key, checkpoint shape,
        model shape)`` (both in ``state_dict``'s order).
    """
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shape = [(k, tuple(v.shape), tuple(expected[k].shape))
             for k, v in state_dict.items()
             if k in expected and hasattr(v, 'shape')
             and tuple(v.shape) != tuple(expected[k].shape)]
    return missing, unexpected, shape


def state_dict_mismatches(
        model: torch.nn.Module,
        state_dict: Dict[str, torch.Tensor]) -> Dict[str, List]:
    """How a checkpoint's weights differ from a model's.

    Args:
        model (nn.Module): The model (or its wrapper).
        state_dict (dict[str, Tensor]): The checkpoint's weights.

    Returns:
        dict[str, list]: ``missing`` (BN ``num_batches_tracked``
        excepted), ``unexpected`` and ``shape`` as
        :func:`diff_state_dicts` gives them.
    """
    missing, unexpected, shape = diff_state_dicts(
        state_dict,
        unwrap_model(model).state_dict())
    missing = [k for k in missing if not k.endswith(_IGNORED_MISSING)]
    return dict(missing=missing, unexpected=unexpected, shape=shape)


def _format(mismatch: Dict[str, List], limit: int = 20) -> str:
    """One line per key (at most ``limit`` per kind)."""
    shape = [
        f'{k}: {list(c)} in the checkpoint vs {list(m)} in the model'
        for k, c, m in mismatch['shape']
    ]
    lines = []
    for title, items in (('missing in the checkpoint', mismatch['missing']),
                         ('unexpected (not in the model)',
                          mismatch['unexpected']), ('shape mismatch', shape)):
        if items:
            lines.append(f'  {title} ({len(items)}):')
            lines += [f'    {item}' for item in items[:limit]]
        if len(items) > limit:
            lines.append(f'    ... and {len(items) - limit} more')
    return '\n'.join(lines)


def take_generated_tensors(state_dict: Dict[str, torch.Tensor],
                           generated: Iterable[str],
                           expected: Mapping[str, torch.Tensor]) -> List[str]:
    """The converters' rule for the tensors a conversion generated (not in
    the source file, fixed by the config: the ViT's sinusoid ``pos_embed``,
    BN counters): where the model has them, the model's values are taken
    (``convert_official_checkpoint.py --config``).

    Args:
        state_dict (dict[str, Tensor]): The converted weights; changed in
            place.
        generated (Iterable[str]): The keys the conversion generated.
        expected (Mapping[str, Tensor]): The model's ``state_dict()``.

    Returns:
        list[str]: The keys taken from ``expected`` (cloned).
    """
    taken = [k for k in generated if k in expected]
    for key in taken:
        state_dict[key] = expected[key].clone()
    return taken


def _official_in_memory(model: torch.nn.Module,
                        checkpoint: dict) -> Optional[str]:
    """For a checkpoint that mmengine's loader converted in memory from the
    official STMixer layout (``meta.converted_in_memory``): take its
    generated tensors from ``model`` (:func:`take_generated_tensors`) and
    return the sentence that says so in a misfit's message; else None."""
    meta = checkpoint.get('meta')
    if not (isinstance(meta, dict) and meta.get('converted_in_memory')
            and isinstance(checkpoint.get('state_dict'), dict)):
        return None
    model = unwrap_model(model)
    generated = (meta.get('conversion') or {}).get('generated') or {}
    take_generated_tensors(checkpoint['state_dict'], generated,
                           model.state_dict())
    return ('Its weights were converted in memory from the official STMixer '
            'layout by the rules of stmixer-convert-official (in a checkout '
            'tools/model_converters/convert_official_checkpoint.py), whose '
            '--config check refuses them for this config too.')


def _mismatch_of(model: torch.nn.Module, checkpoint: dict,
                 source: str) -> Tuple[Dict[str, List], Optional[str]]:
    """The checks every load runs (a dict, each weight a tensor of the
    model's dtype kind), then the checkpoint's mismatch with ``model``
    (:func:`state_dict_mismatches`) and the sentence that names an official
    checkpoint converted in memory (None for another one)."""
    check_checkpoint_dict(checkpoint, source)
    official = _official_in_memory(model, checkpoint)
    state = checkpoint_state_dict(checkpoint)
    try:  # every weight a tensor of the model's dtype kind
        check_state_dict_values(state, unwrap_model(model).state_dict())
    except ValueError as e:
        raise CheckpointFileError(f'{source}: {e}') from None
    return state_dict_mismatches(model, state), official


def check_checkpoint_fits(model: torch.nn.Module,
                          checkpoint: dict,
                          strict: bool = True,
                          source: str = 'the checkpoint',
                          opt_out: str = 'strict=False',
                          logger: Optional[MMLogger] = None) -> None:
    """Stop (``strict``) or warn when a checkpoint does not fit ``model``.

    An official STMixer checkpoint that mmengine's loader converted in
    memory (``meta.converted_in_memory``) first gets its generated tensors
    from ``model`` (:func:`take_generated_tensors`, the converter's
    ``--config`` rule), and a misfit's message says it was converted.

    Args:
        model (nn.Module): The model (or its DDP wrapper) to load into.
        checkpoint (dict): The loaded checkpoint file (a converted official
            one: its ``state_dict`` changed in place).
        strict (bool): Raise instead of warning.
        source (str): The checkpoint's name in the message (its path).
        opt_out (str): The switch to partial loading (``--non-strict``).
        logger (MMLogger, optional): Where the warning goes.

    Raises:
        CheckpointFileError: ``checkpoint`` is not a dict, or a weight is
            not a tensor of the model's dtype kind (naming the keys).
        CheckpointMismatchError: With ``strict``, listing the keys.
    """
    mismatch, official = _mismatch_of(model, checkpoint, source)
    if not any(mismatch.values()):
        return
    if strict:
        raise CheckpointMismatchError(
            source, mismatch, opt_out, summary=official)
    print_log(
        f'{source} is loaded in part ({opt_out}):\n{_format(mismatch)}',
        logger=logger or 'current',
        level=30)


#: the share of the model's values a training ``load_from`` must give
#: (config key ``load_from_min_loaded``; see :func:`check_load_from_fits`)
LOAD_FROM_MIN_LOADED = 0.5


def check_load_from_fits(model: torch.nn.Module,
                         checkpoint: dict,
                         min_loaded: float = LOAD_FROM_MIN_LOADED,
                         source: str = 'the checkpoint',
                         opt_out: str = 'load_from_min_loaded=0',
                         logger: Optional[MMLogger] = None) -> float:
    """The rule for a training ``load_from``: at least ``min_loaded`` of the
    model's values (elements, BN counters excepted), and of its backbone's,
    must load (same key and shape); returns the share that loads. An
    official checkpoint converted in memory is treated as in
    :func:`check_checkpoint_fits`.

    Args:
        model (nn.Module): The model (or its wrapper).
        checkpoint (dict): The loaded checkpoint file (a converted official
            one: its ``state_dict`` changed in place).
        min_loaded (float): The share in [0, 1] that must load (0: any).
        source (str): The checkpoint's name in the message.
        opt_out (str): How to accept it anyway, for the message.
        logger (MMLogger, optional): Where the warning goes.

    Returns:
        float: The share of the model's values (elements) that loads, in
        [0, 1]; 1.0 when every key fits.

    Raises:
        CheckpointFileError: ``checkpoint`` is not a dict, or a weight is
            not a tensor of the model's dtype kind (naming the keys).
        CheckpointMismatchError: When less than ``min_loaded`` loads.
    """
    mismatch, official = _mismatch_of(model, checkpoint, source)
    expected = {
        k: v
        for k, v in unwrap_model(model).state_dict().items()
        if not k.endswith(_IGNORED_MISSING)
    }
    if not any(mismatch.values()):
        return 1.0
    not_loaded = set(mismatch['missing'])
    not_loaded.update(k for k, _, _ in mismatch['shape'])

    def share_of(prefix: str) -> Tuple[int, int, float]:
        part = {k: v for k, v in expected.items() if k.startswith(prefix)}
        total = sum(v.numel() for v in part.values())
        loaded = sum(v.numel() for k, v in part.items() if k not in not_loaded)
        return (len([k for k in part if k not in not_loaded]), len(part),
                loaded / total if total else 1.0)

    found, num, share = share_of('')
    counts = (f'{found} of the model\'s {num} tensors ({100 * share:.1f}% '
              'of its values) load from it')
    short = share < min_loaded
    b_found, b_num, b_share = share_of('backbone.')
    if b_num:
        counts += (f', {b_found} of the backbone\'s {b_num} '
                   f'({100 * b_share:.1f}%)')
        short = short or b_share < min_loaded
    if short:
        raise CheckpointMismatchError(
            source,
            mismatch,
            opt_out,
            summary=f'{counts}; load_from must give at least '
            f'{100 * min_loaded:g}% of the model and of its backbone '
            '(load_from_min_loaded) - a checkpoint of another '
            'architecture?' + (f' {official}' if official else ''))
    print_log(
        f'{source} is loaded in part ({counts}):\n{_format(mismatch)}',
        logger=logger or 'current',
        level=30)
    return share
