"""Reading checkpoint files safely: the one loader of stmixer_mm.

Over 450 lines: the only module allowed to unpickle, so that the
security review is one file.

Every checkpoint that stmixer_mm reads goes through
:func:`load_checkpoint_file`: mmengine's local loader (``load_from``,
``--resume``, ``init_detector``, ``tools/test.py``, installed by
:func:`stmixer_mm.utils.compat.patch_mmengine_local_loader`) and the converter
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

It is also the one place where stmixer_mm unpickles anything else
(``tests/test_pickle_policy.py`` checks the sources):
:func:`load_pickle` reads data pickles (ACT ground truth, a ``.pkl`` label
map, dumped predictions) with a ``find_class`` allow-list
(:data:`PICKLE_ALLOW_LISTS`: builtin containers and scalars, numpy arrays /
scalars / dtypes, torch tensors for predictions, the dataclasses of a
torch.distributed.checkpoint ``.metadata``), and
:func:`safe_dcp_reader` / :func:`safe_dcp_planner` read a sharded
(torch.distributed.checkpoint) folder with that unpickler for its
``.metadata`` and ``torch.load(weights_only=True)`` for its byte items
(PyTorch's own ``FileSystemReader`` / ``DefaultLoadPlanner`` unpickle both
without restriction). A refused file raises :class:`UnsafePickleError`
naming the file and the global it asked for; nothing from it has run. The
same trust mechanism applies to every pickle: ``trust_pickle=True`` in
Python (``--trust-pickle`` where a tool has it) or the file listed in
``STMIXER_MM_TRUSTED_CHECKPOINTS``.

:func:`find_state_dict` is the one rule by which the engine (strict-fit
check, inference) and the converters find a checkpoint's weights.

Why one file of about 870 lines: it is the only module allowed to
unpickle (``tests/test_pickle_policy.py`` scans the sources for any
other), so every allow-list, every unpickler and every reader of pickled
data (torch files, plain pickles, sharded ``.metadata``) sit together and
the security review of the project's unpickling is the review of this one
file.
"""
import enum
import functools
import io
import os
import os.path as osp
import pathlib
import pickle
import pickletools
import re
import types
import zipfile
from contextlib import contextmanager
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

import numpy as np
import torch

__all__ = [
    'CheckpointFileError', 'MissingCheckpointError', 'TRUST_ENV',
    'STATE_DICT_KEYS', 'check_checkpoint_file', 'find_state_dict',
    'load_checkpoint_file', 'runner_checkpoint_globals', 'is_trusted',
    'UnsafePickleError', 'PICKLE_ALLOW_LISTS', 'load_pickle',
    'safe_dcp_reader', 'safe_dcp_planner', 'ShardedCheckpointError'
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
def history_buffer_getattr(obj: Any, name: str) -> Any:
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
        (history_buffer_getattr, 'builtins.getattr')
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
                # Caffe2 / PySlowFast .pkl files: numpy arrays in dicts
                return _RestrictedUnpickler(
                    f, 'numpy', encoding='latin1').load()
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


# ---------------------------------------------------------------------------
# every other pickle: data files and torch.distributed.checkpoint folders
# ---------------------------------------------------------------------------
class UnsafePickleError(CheckpointFileError):
    """A complete pickle that asks for a global outside its allow-list:
    refused before anything from it ran. ``path`` is the file,
    ``global_name`` the refused ``module.name``."""

    def __init__(self,
                 message: str,
                 path: str = '',
                 global_name: str = '') -> None:
        super().__init__(message)
        self.path = path
        self.global_name = global_name


class ShardedCheckpointError(CheckpointFileError):
    """A torch.distributed.checkpoint folder that cannot be read (a shard
    file missing, truncated or corrupt, or its ``.metadata`` unreadable);
    the message names the file."""


class _RefusedGlobal(pickle.UnpicklingError):

    def __init__(self, global_name: str) -> None:
        super().__init__(f'global {global_name} is outside the allow-list')
        self.global_name = global_name


def _torch_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes`` (a tensor's storage in a plain
    pickle) with ``weights_only=True`` instead of full unpickling."""
    return torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)


def _builtin_globals() -> Dict[Tuple[str, str], Any]:
    import builtins
    names = ('set', 'frozenset', 'complex', 'bytes', 'bytearray', 'slice',
             'range', 'list', 'dict', 'tuple', 'int', 'float', 'str', 'bool')
    out = {('builtins', n): getattr(builtins, n) for n in names}
    import collections
    out[('collections', 'OrderedDict')] = collections.OrderedDict
    out[('collections', 'defaultdict')] = collections.defaultdict
    out[('_codecs', 'encode')] = __import__('_codecs').encode
    return out


def _numpy_globals() -> Dict[Tuple[str, str], Any]:
    core = np._core if hasattr(np, '_core') else np.core
    out = {('numpy', 'ndarray'): np.ndarray, ('numpy', 'dtype'): np.dtype}
    for prefix in ('numpy._core', 'numpy.core'):
        out[(f'{prefix}.multiarray', '_reconstruct')] = \
            core.multiarray._reconstruct
        out[(f'{prefix}.multiarray', 'scalar')] = core.multiarray.scalar
        if hasattr(core.numeric, '_frombuffer'):  # protocol 5 arrays
            out[(f'{prefix}.numeric', '_frombuffer')] = \
                core.numeric._frombuffer
    for cls in {type(np.dtype(c)) for c in np.typecodes['All']}:
        if cls is not np.dtype:
            out[(cls.__module__, cls.__name__)] = cls
    return out


def _torch_type_globals() -> Dict[Tuple[str, str], Any]:
    out: Dict[Tuple[str, str], Any] = {
        ('torch', 'Size'): torch.Size,
        ('torch', 'device'): torch.device
    }
    for name in dir(torch):
        obj = getattr(torch, name, None)
        if isinstance(obj, (torch.dtype, torch.layout, torch.memory_format)):
            out[('torch', name)] = obj
    return out


def _tensor_globals() -> Dict[Tuple[str, str], Any]:
    from torch._utils import _rebuild_tensor_v2
    out = _torch_type_globals()
    out[('torch._utils', '_rebuild_tensor_v2')] = _rebuild_tensor_v2
    out[('torch.storage', '_load_from_bytes')] = _torch_bytes
    return out


def _dcp_metadata_globals() -> Dict[Tuple[str, str], Any]:
    import dataclasses

    import torch.distributed.checkpoint.filesystem as dcp_fs
    import torch.distributed.checkpoint.metadata as dcp_md
    out = _torch_type_globals()
    for name, obj in vars(dcp_md).items():
        if isinstance(obj, type) and obj.__module__ == dcp_md.__name__ and (
                dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum)):
            out[(dcp_md.__name__, name)] = obj
    out[(dcp_fs.__name__, '_StorageInfo')] = dcp_fs._StorageInfo
    out[('torch.serialization',
         '_get_layout')] = torch.serialization._get_layout
    for name in ('Path', 'PosixPath', 'WindowsPath', 'PurePath',
                 'PurePosixPath', 'PureWindowsPath'):
        out[('pathlib', name)] = getattr(pathlib, name)
    return out


#: The allow-lists of :func:`load_pickle`: name -> (what it admits, the
#: function building its ``{(module, name): object}``). Builtin containers
#: and scalars need no global and are always admitted.
PICKLE_ALLOW_LISTS: Dict[str, Tuple[str, Callable[[], dict]]] = {
    'numpy': ('builtin containers and scalars, numpy arrays / scalars / '
              'dtypes', lambda: {
                  **_builtin_globals(),
                  **_numpy_globals()
              }),
    'tensors': ('builtin containers and scalars, numpy arrays / scalars / '
                'dtypes, torch tensors', lambda: {
                    **_builtin_globals(),
                    **_numpy_globals(),
                    **_tensor_globals()
                }),
    'dcp_metadata':
    ('the dataclasses of torch.distributed.checkpoint '
     'metadata, torch sizes / dtypes, builtin containers', lambda: {
         **_builtin_globals(),
         **_dcp_metadata_globals()
     }),
}


@functools.lru_cache(maxsize=None)
def _allowed_globals(allowed: str) -> Dict[Tuple[str, str], Any]:
    return PICKLE_ALLOW_LISTS[allowed][1]()


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only the globals of one allow-list; anything else raises
    :class:`_RefusedGlobal` before it is imported or called."""

    def __init__(self, f, allowed: str, **kwargs) -> None:
        super().__init__(f, **kwargs)
        self._allowed = _allowed_globals(allowed)

    def find_class(self, module: str, name: str) -> Any:
        import _compat_pickle  # Python 2 names (__builtin__, copy_reg)
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise _RefusedGlobal(f'{module}.{name}') from None


def _data_trust_hint(trust_option: str, path: str, noun: str = 'file') -> str:
    return (f'If you trust the {noun}, unpickle it without restriction: '
            f'{trust_option}{TRUST_ENV}={path} in the environment (paths '
            'separated by os.pathsep); unpickling can run code from the '
            f'{noun}.')


def _unpickle(f,
              name: str,
              allowed: str,
              what: str,
              trust_pickle: bool,
              encoding: str = 'latin1',
              trust_option: str = 'trust_pickle=True in Python, or ') -> Any:
    """Unpickle ``f`` (from the file ``name``) with the allow-list
    ``allowed``, or fully when ``trust_pickle``."""
    if allowed not in PICKLE_ALLOW_LISTS:
        raise ValueError(f'allowed must be one of {list(PICKLE_ALLOW_LISTS)}'
                         f', got {allowed!r}')
    if trust_pickle or is_trusted(name):
        return pickle.load(f, encoding=encoding)
    try:
        return _RestrictedUnpickler(f, allowed, encoding=encoding).load()
    except _RefusedGlobal as err:
        raise UnsafePickleError(
            f'{name}: refused to unpickle this {what}: it asks for the '
            f'global {err.global_name}, which is outside the allow-list '
            f'({PICKLE_ALLOW_LISTS[allowed][0]}); nothing from the file was '
            f'run. {_data_trust_hint(trust_option, name)}', name,
            err.global_name) from None


def load_pickle(path: str,
                allowed: str = 'numpy',
                what: str = 'pickle',
                trust_pickle: bool = False,
                backend_args: Optional[dict] = None,
                encoding: str = 'latin1',
                trust_option: str = 'trust_pickle=True in Python, or ') -> Any:
    """Unpickle a data file with an allow-list: the one way stmixer_mm reads
    a pickle that is not a checkpoint.

    Only the globals of ``PICKLE_ALLOW_LISTS[allowed]`` are built (numpy
    ``'numpy.core'`` and ``'numpy._core'`` spellings, Python 2 names);
    ``encoding='latin1'`` reads Python 2 pickles (their numpy arrays
    included). ``trust_pickle=True``, or the file listed in
    :data:`TRUST_ENV`, unpickles without restriction.

    Args:
        path (str): The file (a local path, or any backend of mmengine's
            fileio with ``backend_args``).
        allowed (str): ``'numpy'`` (ACT ground truth, label maps),
            ``'tensors'`` (dumped predictions) or ``'dcp_metadata'``.
        what (str): What the file is, for the error message.
        trust_pickle (bool): Full unpickling (only for trusted files).
        backend_args (dict, optional): As mmengine's ``get_file_backend``.
        encoding (str): As ``pickle.load``'s.
        trust_option (str): How the caller's user trusts a file besides
            :data:`TRUST_ENV` (e.g. ``'--trust-pickle, or '``), for the
            message.

    Returns:
        The unpickled object.

    Raises:
        UnsafePickleError: The file asks for a global outside the
            allow-list (the message names the file and the global).
        EOFError, pickle.UnpicklingError, ValueError: Truncated or corrupt.
    """
    if backend_args is None and osp.isfile(path):
        with open(path, 'rb') as f:
            return _unpickle(f, path, allowed, what, trust_pickle, encoding,
                             trust_option)
    from mmengine.fileio import get
    return _unpickle(
        io.BytesIO(get(path, backend_args=backend_args)), path, allowed, what,
        trust_pickle, encoding, trust_option)


@functools.lru_cache(maxsize=None)
def _dcp_classes() -> Tuple[type, type, type]:
    """The safe reader and planners (built on first use: importing
    torch.distributed.checkpoint is not free)."""
    import dataclasses

    import torch.distributed.checkpoint.default_planner as dcp_planner
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.format_utils import \
        _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.metadata import Metadata, StorageMeta

    class SafeFileSystemReader(FileSystemReader):
        """``FileSystemReader`` whose ``.metadata`` is read by
        :func:`load_pickle` (``'dcp_metadata'``), whose shard files are
        checked against the metadata (present, long enough) before any is
        read, and whose read errors name the shard file."""

        def read_metadata(self, *args, **kwargs) -> Metadata:
            rank = kwargs.get('rank')
            cache = self.__dict__.setdefault('_stmixer_metadata', {})
            if rank not in cache:
                cache[rank] = self._read_metadata(rank)
            metadata = cache[rank]
            metadata.storage_meta.load_id = self.load_id
            return metadata

        def _read_metadata(self, rank) -> Metadata:
            path = str(self._get_metadata_path(rank))
            if not osp.isfile(path):
                raise ShardedCheckpointError(
                    f'{path} is missing: a torch.distributed.checkpoint '
                    'folder has one (incomplete copy?)')
            try:
                metadata = load_pickle(
                    path,
                    'dcp_metadata',
                    'torch.distributed.checkpoint metadata',
                    trust_pickle=is_trusted(str(self.path)),
                    trust_option='')
            except UnsafePickleError:
                raise
            except (EOFError, pickle.UnpicklingError, ValueError, TypeError,
                    AttributeError) as err:
                raise ShardedCheckpointError(
                    f'{path} is truncated or corrupt: the metadata of the '
                    'torch.distributed.checkpoint folder cannot be read '
                    f'({type(err).__name__}: {err}); copy the folder again'
                ) from err
            if not isinstance(metadata, Metadata):
                raise ShardedCheckpointError(
                    f'{path}: expected torch.distributed.checkpoint Metadata'
                    f', got {type(metadata).__name__}')
            if getattr(metadata, 'storage_meta', None) is None:
                metadata.storage_meta = StorageMeta()
            return metadata

        def check_shard_files(self, metadata) -> None:
            """Every shard file the metadata lists is there and long
            enough (a truncated copy is named before anything is read)."""
            need: Dict[str, int] = {}
            for info in (metadata.storage_data or {}).values():
                end = int(info.offset) + int(info.length)
                need[info.relative_path] = max(
                    need.get(info.relative_path, 0), end)
            for rel, end in sorted(need.items()):
                path = str(self.fs.concat_path(self.path, rel))
                if not osp.isfile(path):
                    raise ShardedCheckpointError(
                        f'{path} is missing: the metadata of the sharded '
                        f'checkpoint {self.path} lists it (incomplete '
                        'copy?)')
                size = osp.getsize(path)
                if size < end:
                    raise ShardedCheckpointError(
                        f'{path} is truncated: the shard file has {size} '
                        f'bytes, the metadata of {self.path} needs {end}; '
                        'copy or download it again')

        def read_data(self, plan, planner):
            per_file: Dict[str, list] = {}
            for item in plan.items:
                rel = self.storage_data[item.storage_index].relative_path
                per_file.setdefault(rel, []).append(item)
            fut = None
            for rel, items in per_file.items():
                path = str(self.fs.concat_path(self.path, rel))
                planner.trust_pickle = is_trusted(str(self.path))
                try:
                    fut = super().read_data(
                        dataclasses.replace(plan, items=items), planner)
                except (pickle.UnpicklingError, RuntimeError, EOFError,
                        OSError, ValueError, AssertionError) as err:
                    # a refused global (ours, or torch's weights_only
                    # message of a tensor item), else a corrupt shard
                    name = getattr(err, 'global_name', '') or ' '.join(
                        re.findall(r'GLOBAL ([\w.]+)', str(err))[:1])
                    if name:
                        raise UnsafePickleError(
                            f'{path}: refused to unpickle an item of this '
                            'shard file: torch.load(weights_only=True) '
                            f'refuses {name}; nothing from the file was run.'
                            f' {_data_trust_hint("", self.path, "folder")}',
                            path, name) from err
                    raise ShardedCheckpointError(
                        f'{path} is corrupt: a shard of the sharded '
                        f'checkpoint {self.path} cannot be read '
                        f'({type(err).__name__}: {str(err)[:300]}); copy or '
                        'download it again') from err
            if fut is None:
                return super().read_data(plan, planner)
            return fut

    class _SafeBytesMixin:
        """``load_bytes`` (non-tensor items: learning rates, parameter
        names) with ``torch.load(weights_only=True)`` and the allow-list of
        :func:`runner_checkpoint_globals` instead of full unpickling (full
        unpickling only for a folder listed in :data:`TRUST_ENV`)."""

        trust_pickle = False  # the reader sets it for a trusted folder

        def load_bytes(self, read_item, value) -> None:
            if self.trust_pickle:
                obj = torch.load(value, map_location='cpu', weights_only=False)
            else:
                try:
                    with _allowed_runner_globals():
                        obj = torch.load(
                            value, map_location='cpu', weights_only=True)
                except pickle.UnpicklingError as err:
                    value.seek(0)
                    try:
                        found = torch.serialization.\
                            get_unsafe_globals_in_checkpoint(value)
                    except Exception:  # noqa: B902 - name it from err
                        found = []
                    allowed = _global_names(runner_checkpoint_globals())
                    refused = [g for g in found if g not in allowed]
                    if not refused:  # not a readable item at all
                        raise RuntimeError(
                            'an item is not a torch-saved object ('
                            f'{str(err).strip().splitlines()[-1][:200]})'
                        ) from err
                    raise _RefusedGlobal(', '.join(refused)) from err
            fqn = read_item.dest_index.fqn
            if self.flatten_state_dict:
                dcp_planner.set_element(self.original_state_dict,
                                        self.mappings[fqn], obj)
            else:
                self.state_dict[fqn] = obj

    class SafeLoadPlanner(_SafeBytesMixin, dcp_planner.DefaultLoadPlanner):
        pass

    class SafeEmptyLoadPlanner(_SafeBytesMixin, _EmptyStateDictLoadPlanner):
        pass

    return SafeFileSystemReader, SafeLoadPlanner, SafeEmptyLoadPlanner


def safe_dcp_reader(path: str):
    """A torch.distributed.checkpoint ``FileSystemReader`` for ``path``
    whose ``.metadata`` goes through :func:`load_pickle` and whose read
    errors name the shard file: the reader of every sharded checkpoint
    stmixer_mm loads.

    The metadata is read (and kept for PyTorch's load) and every shard file
    it lists checked for presence and length here, before PyTorch's load
    runs: PyTorch would turn a failed ``read_metadata`` into a warning with
    a traceback and a second attempt at a per-rank file.

    Raises:
        ShardedCheckpointError: The metadata or a shard file is missing,
            truncated or corrupt (the message names it).
        UnsafePickleError: The metadata asks for a global outside the
            allow-list.
    """
    reader = _dcp_classes()[0](path)
    reader.check_shard_files(reader.read_metadata())
    return reader


def safe_dcp_planner(empty_state_dict: bool = False,
                     keys: Optional[Sequence[str]] = None):
    """The load planner to use with :func:`safe_dcp_reader`: PyTorch's
    ``DefaultLoadPlanner`` (or, with ``empty_state_dict``, the planner that
    rebuilds the whole state dict from the metadata, only the entries under
    ``keys`` if given) whose byte items are read with
    ``torch.load(weights_only=True)``."""
    if empty_state_dict:
        return _dcp_classes()[2](keys=set(keys) if keys else None)
    return _dcp_classes()[1]()


def raise_dcp_failure(err: BaseException) -> None:
    """Re-raise the first stmixer_mm error inside a torch.distributed.
    checkpoint ``CheckpointException`` (which wraps every rank's error in a
    ``BaseException`` with tracebacks); returns when there is none."""
    for failure in getattr(err, 'failures', {}).values():
        exc = failure[0] if isinstance(failure, tuple) else failure
        if isinstance(exc, CheckpointFileError):
            raise exc.with_traceback(None) from None
