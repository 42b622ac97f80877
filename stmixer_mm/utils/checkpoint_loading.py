"""Reading checkpoint files safely: the one loader of stmixer_mm.

Every checkpoint that stmixer_mm reads goes through
:func:`load_checkpoint_file`: mmengine's local loader (``load_from``,
``--resume``, ``init_detector``, ``tools/test.py``, installed by
:func:`stmixer_mm.engine.install_checked_local_loader`) and the converter
tools (``tools/model_converters/``). It

- checks first that the file is complete (:func:`check_checkpoint_file`),
  so a truncated or corrupt file is reported as such, with its name;
- reads torch files with ``torch.load(weights_only=True)`` and, only
  inside that call (``torch.serialization.safe_globals``), the types that
  the Runner's own checkpoints hold besides tensors
  (:func:`runner_checkpoint_globals`: numpy arrays / scalars / dtypes of
  the message hub and the random state, mmengine's ``HistoryBuffer``);
  nothing is added to torch's process-wide allow-list;
- reads plain pickles (Caffe2 / PySlowFast ``.pkl``) with an unpickler that
  builds numpy arrays only;
- refuses anything else with :class:`CheckpointFileError` naming the file
  and the types outside the allow-list. Full unpickling (which can run code
  from the file) only on request, for a trusted file: ``trust_pickle=True``
  in Python, ``--trust-pickle`` in the converter tools, or the environment
  variable ``STMIXER_MM_TRUSTED_CHECKPOINTS`` (paths separated by
  ``os.pathsep``) for files read through mmengine's Runner.

:func:`find_state_dict` is the one rule by which the engine (strict-fit
check, inference) and the converters find a checkpoint's weights.
"""
import os
import os.path as osp
import pickle
import pickletools
import re
import types
import zipfile
from contextlib import contextmanager
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = [
    'CheckpointFileError', 'MissingCheckpointError', 'TRUST_ENV',
    'STATE_DICT_KEYS', 'check_checkpoint_file', 'find_state_dict',
    'load_checkpoint_file', 'runner_checkpoint_globals', 'is_trusted'
]

#: Environment variable listing checkpoint files to load with full
#: unpickling (``os.pathsep``-separated paths), for files read through
#: mmengine (``--resume``, ``load_from``) that hold types outside the
#: allow-list. Only for files you trust.
TRUST_ENV = 'STMIXER_MM_TRUSTED_CHECKPOINTS'

#: Where a checkpoint keeps its model weights, in the order they are looked
#: up: mmengine's ``state_dict`` first (what mmengine's ``load_checkpoint``
#: loads into the model), then ``model`` (official STMixer, VideoMAE,
#: DeiT-style files).
STATE_DICT_KEYS = ('state_dict', 'model')


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be read; the message names the file
    and says why (missing, empty, truncated, corrupt, or complete but in
    need of full unpickling)."""


class MissingCheckpointError(CheckpointFileError, FileNotFoundError):
    """A checkpoint path that does not exist: a :class:`CheckpointFileError`
    that callers catching ``FileNotFoundError`` (mmengine's contract for a
    missing file) still catch."""


_ZIP_MAGIC = b'PK\x03\x04'
# the first pickle of torch's legacy (pre-1.6, non-zip) format
_TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
# pickles in front of the raw storage bytes of the legacy format: magic,
# protocol version, system info, the object, the storage keys
_TORCH_LEGACY_PICKLES = 5
# numpy arrays and scalars, as Caffe2 / PySlowFast .pkl files hold them
_NUMPY_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('_codecs', 'encode'),  # bytes in protocol-2 pickles written by py3
    ('collections', 'OrderedDict'),
}


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles dicts / lists of numpy arrays and nothing that runs code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(
                f'global {module}.{name} is not a numpy array part')
        if module.startswith('numpy.core') and hasattr(np, '_core'):
            module = 'numpy._core' + module[len('numpy.core'):]
        return super().find_class(module, name)


def _walk_pickle(f) -> List[Tuple[str, Any]]:
    """Read one pickle's opcodes without executing them; the first few
    ``(name, arg)`` are returned (ValueError when it is cut short or not a
    pickle)."""
    head = []
    for opcode, arg, _ in pickletools.genops(_BoundedReader(f)):
        if len(head) < 3:
            head.append((opcode.name, arg))
    return head


class _BoundedReader:
    """A file whose ``read(n)`` refuses ``n`` beyond the file's end (a
    corrupt length field would otherwise make pickletools allocate it:
    ``MemoryError`` on random bytes)."""

    def __init__(self, f) -> None:
        self._f = f
        pos = f.tell()
        f.seek(0, 2)
        self._size = f.tell()
        f.seek(pos)

    def read(self, n: int = -1) -> bytes:
        remaining = self._size - self._f.tell()
        if n is not None and n > remaining:
            if n > 16 * max(self._size, 1 << 20):
                raise ValueError(f'a pickle opcode gives the length {n}, '
                                 f'far beyond the file size {self._size}')
            raise ValueError(f'a pickle opcode needs {n} bytes but only '
                             f'{remaining} remain')
        return self._f.read(n)

    def __getattr__(self, name):
        return getattr(self._f, name)


def check_checkpoint_file(path: str) -> str:
    """Check that ``path`` is a complete checkpoint file, without unpickling.

    Zip files (torch >= 1.6) must have their central directory and pass the
    CRC check of every member; pickle files (torch's legacy format, Caffe2 /
    PySlowFast ``.pkl``) must hold whole pickles (every opcode and its data
    up to the end-of-pickle mark).

    Args:
        path (str): The file.

    Returns:
        str: ``'zip'``, ``'torch_legacy'`` or ``'pickle'``.

    Raises:
        CheckpointFileError: Missing, empty, truncated or corrupt file.
    """
    if not osp.isfile(path):
        raise MissingCheckpointError(f'{path}: no such file')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointFileError(
            f'{path} is empty (0 bytes): truncated download or copy')
    again = 'download or copy it again'
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic == _ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise CheckpointFileError(
                f'{path} is truncated or corrupt: a torch (zip) checkpoint '
                f'whose zip directory cannot be read ({err}; {size} bytes); '
                f'{again}') from err
        if bad is not None:
            raise CheckpointFileError(
                f'{path} is corrupt: member {bad!r} of the torch (zip) '
                f'checkpoint fails its CRC check; {again}')
        return 'zip'
    with open(path, 'rb') as f:
        try:
            head = _walk_pickle(f)
            legacy = head[1:2] == [('LONG1', _TORCH_LEGACY_MAGIC)]
            for _ in range(_TORCH_LEGACY_PICKLES - 1 if legacy else 0):
                _walk_pickle(f)
        except (ValueError, EOFError) as err:
            if 'exhausted' in str(err) or 'but only' in str(err):
                raise CheckpointFileError(
                    f'{path} is truncated: its pickle data ends (at byte '
                    f'{size}) before the end-of-pickle mark ({err}); '
                    f'{again}') from err
            raise CheckpointFileError(
                f'{path} is corrupt or not a checkpoint: neither a torch zip '
                f'file nor a valid pickle ({err})') from err
        if legacy:
            return 'torch_legacy'  # storage bytes follow the pickles
        if f.read(1):
            raise CheckpointFileError(
                f'{path} is corrupt: data follows the end of its pickle at '
                f'byte {f.tell() - 1} of {size}')
    return 'pickle'


def find_state_dict(checkpoint: Mapping,
                    format_keys: Sequence[str] = (),
                    bare_values: str = 'tensor') -> Tuple[dict, str]:
    """The model weights of a loaded checkpoint and the entry holding them.

    The one rule of stmixer_mm: the first of ``format_keys`` (entries of a
    source format that hold nothing else, e.g. PySlowFast's ``blobs``,
    DeepSpeed's ``module``) then :data:`STATE_DICT_KEYS` (``state_dict``,
    then ``model``) whose value is a dict; otherwise the checkpoint itself
    when it is a bare state dict.

    Args:
        checkpoint (Mapping): what the file held.
        format_keys (Sequence[str]): entries looked up first.
        bare_values (str): what a bare state dict's values must be:
            ``'tensor'`` (torch tensors), ``'array'`` (anything with a
            ``shape``: tensors or numpy arrays) or ``'any'``.

    Returns:
        tuple[dict, str]: the weights and their entry (``''`` for a bare
        state dict).

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


# ---------------------------------------------------------------------------
# the allow-list of the Runner's own checkpoints
# ---------------------------------------------------------------------------
def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as mmengine's ``HistoryBuffer`` pickles use it (its
    ``statistics_methods`` are stored as ``getattr(HistoryBuffer, name)``),
    restricted to those methods."""
    from mmengine.logging.history_buffer import HistoryBuffer
    method = HistoryBuffer.__dict__.get(name) if obj is HistoryBuffer \
        and isinstance(name, str) and not name.startswith('_') else None
    if not isinstance(method, types.FunctionType):
        raise pickle.UnpicklingError(
            f'getattr({getattr(obj, "__name__", type(obj).__name__)}, '
            f'{name!r}) is outside the allow-list (only the public methods '
            'of mmengine.logging.HistoryBuffer)')
    return getattr(obj, name)


def runner_checkpoint_globals() -> List[Any]:
    """What a Runner checkpoint of stmixer_mm holds besides what
    ``torch.load(weights_only=True)`` accepts by itself, for
    ``torch.serialization.safe_globals``: numpy arrays, scalars and dtypes
    (message hub, random state, metrics; numpy 1 and 2 module names) and
    mmengine's ``HistoryBuffer`` (with its pickled ``getattr`` restricted to
    its statistics methods)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else \
        np.core.multiarray
    out: List[Any] = [
        np.ndarray, np.dtype, HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr')
    ]
    for prefix in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        out += [(multiarray._reconstruct, f'{prefix}._reconstruct'),
                (multiarray.scalar, f'{prefix}.scalar')]
    # numpy >= 1.25 pickles dtypes through their classes (np.dtypes.*)
    out += sorted(
        {type(np.dtype(c))
         for c in np.typecodes['All'] if c not in 'OSUVMm'},
        key=lambda t: t.__name__)
    return out


def _global_names(entries: Sequence[Any]) -> set:
    names = set()
    for entry in entries:
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f'{entry.__module__}.{entry.__qualname__}')
    return names


def is_trusted(path: str) -> bool:
    """Whether ``path`` is listed in :data:`TRUST_ENV`."""
    listed = [p for p in os.environ.get(TRUST_ENV, '').split(os.pathsep) if p]
    real = osp.realpath(osp.expanduser(path))
    return any(osp.realpath(osp.expanduser(p)) == real for p in listed)


_TRUST_HINT = ('If you trust the file, load it with full unpickling '
               '(--trust-pickle in the converter tools, trust_pickle=True '
               f'in Python, or {TRUST_ENV}=<file> in the environment for '
               '--resume / load_from); unpickling can run code from the '
               'file.')


def _refused_globals(path: str, err: Exception) -> List[str]:
    """The globals of ``path`` outside the allow-list (from the file; from
    torch's message when the file cannot be scanned)."""
    allowed = _global_names(runner_checkpoint_globals())
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        refused = [g for g in found if g not in allowed]
    except Exception:  # e.g. the legacy (non-zip) format
        refused = []
    if not refused:
        refused = re.findall(r'GLOBAL ([\w.]+)', str(err))
    return refused


@contextmanager
def _allowed_runner_globals():
    """The allow-list, for the ``torch.load`` calls inside the block only."""
    with torch.serialization.safe_globals(runner_checkpoint_globals()):
        yield


def load_checkpoint_file(path: str,
                         trust_pickle: bool = False,
                         map_location: Optional[Any] = 'cpu',
                         check_first: bool = True) -> Any:
    """Load a torch checkpoint or a Caffe2 / PySlowFast ``.pkl`` safely.

    The file is first checked to be complete (:func:`check_checkpoint_file`),
    so a truncated or corrupt file is reported as such (with
    ``check_first=False``, only when loading fails: the check reads the
    whole file, which the runtime path spares). Then torch files are
    read with ``torch.load(weights_only=True)`` and the allow-list of
    :func:`runner_checkpoint_globals` (Runner checkpoints resume), plain
    pickles with an unpickler that builds numpy arrays only
    (``encoding='latin1'`` for Python 2 pickles). ``trust_pickle=True``, or
    the file listed in :data:`TRUST_ENV`, unpickles without restriction.

    Args:
        path (str): The file.
        trust_pickle (bool): Full unpickling (only for trusted files).
        map_location: As for ``torch.load``. Defaults to ``'cpu'``.
        check_first (bool): Check the file before loading it (else it is
            read as a torch file and checked only when that fails).

    Returns:
        The loaded object.

    Raises:
        CheckpointFileError: The file is missing, empty, truncated, corrupt,
            or complete but holding types outside the allow-list (the
            message names them and says how to trust the file).
    """
    if check_first:
        kind = check_checkpoint_file(path)
    elif not osp.isfile(path):
        raise MissingCheckpointError(f'{path}: no such file')
    else:
        kind = None
    trust_pickle = trust_pickle or is_trusted(path)
    if kind == 'pickle':
        with open(path, 'rb') as f:
            try:
                if trust_pickle:
                    return pickle.load(f, encoding='latin1')
                return _NumpyUnpickler(f, encoding='latin1').load()
            except pickle.UnpicklingError as err:
                if trust_pickle:
                    raise
                raise CheckpointFileError(
                    f'{path} is a complete pickle, but it holds more than '
                    f'numpy arrays ({err}). {_TRUST_HINT}') from err
    try:
        if trust_pickle:
            return torch.load(
                path, map_location=map_location, weights_only=False)
        with _allowed_runner_globals():
            return torch.load(
                path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if trust_pickle:
            raise
        if kind is None:
            check_checkpoint_file(path)  # truncated or corrupt: says so
        refused = _refused_globals(path, err)
        what = (f'types outside the allow-list of stmixer_mm checkpoints: '
                f'{", ".join(refused)}') if refused else \
            str(err).strip().splitlines()[-1][:300]
        raise CheckpointFileError(
            f'{path} is a complete torch checkpoint, but safe loading '
            f'(torch.load(weights_only=True)) refuses it: it holds {what}. '
            f'{_TRUST_HINT}') from err
    except (RuntimeError, EOFError, OSError) as err:
        if kind is None:
            check_checkpoint_file(path)
        raise CheckpointFileError(
            f'{path} could not be read: truncated or corrupt ({err})') from err
