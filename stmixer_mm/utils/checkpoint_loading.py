"""Reading checkpoints and pickles safely: the only module of stmixer_mm
that unpickles (``tests/test_pickle_policy.py``), each file through an
allow-list unless trusted (docs/en/get_started.md, docs/en/bad_inputs.md)."""
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
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

import numpy as np
import torch

__all__ = [
    'CheckpointFileError', 'MissingCheckpointError', 'TRUST_ENV',
    'STATE_DICT_KEYS', 'check_checkpoint_file', 'find_state_dict',
    'check_state_dict_values', 'INTEGER_WEIGHTS', 'load_checkpoint_file',
    'runner_checkpoint_globals', 'is_trusted', 'UnsafePickleError',
    'PICKLE_ALLOW_LISTS', 'load_pickle', 'safe_dcp_reader',
    'load_sharded_state', 'ShardedCheckpointError',
    'torch_load_defaults_to_weights_only'
]

#: Files (``os.pathsep``-separated) to unpickle in full, e.g. for
#: ``--resume`` / ``load_from`` of files outside the allow-list; trusted only.
TRUST_ENV = 'STMIXER_MM_TRUSTED_CHECKPOINTS'

#: Where a checkpoint keeps its weights, in lookup order: mmengine's
#: ``state_dict``, then ``model`` (official STMixer, VideoMAE, DeiT files).
STATE_DICT_KEYS = ('state_dict', 'model')


class CheckpointFileError(ValueError):
    """An unreadable checkpoint file; the message names it and says why
    (missing, empty, truncated, corrupt, or needing full unpickling)."""


class MissingCheckpointError(CheckpointFileError, FileNotFoundError):
    """A missing checkpoint; also a ``FileNotFoundError`` (mmengine's
    contract for a missing file)."""


class UnsafePickleError(CheckpointFileError):
    """A pickle asking for a global outside its allow-list, refused before
    anything ran; ``path``: the file, ``global_name``: ``module.name``."""

    def __init__(self,
                 message: str,
                 path: str = '',
                 global_name: str = '') -> None:
        super().__init__(message)
        self.path = path
        self.global_name = global_name


class ShardedCheckpointError(CheckpointFileError):
    """An unreadable torch.distributed.checkpoint folder (a shard or its
    ``.metadata`` missing, truncated, corrupt); the message names the file."""


class _RefusedGlobal(pickle.UnpicklingError):

    def __init__(self, global_name: str) -> None:
        super().__init__(f'global {global_name} is outside the allow-list')
        self.global_name = global_name


# is the file complete? (read without unpickling)
_ZIP_MAGIC = b'PK\x03\x04'
# the first pickle of torch's legacy (pre-1.6, non-zip) format
_TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
# pickles in front of the raw storage bytes of the legacy format: magic,
# protocol version, system info, the object, the storage keys
_TORCH_LEGACY_PICKLES = 5


class _BoundedReader:
    """A file whose ``read(n)`` refuses ``n`` past its end (else a corrupt
    length makes pickletools allocate it: ``MemoryError``)."""

    def __init__(self, f) -> None:
        self._f = f
        self._size = os.fstat(f.fileno()).st_size

    def read(self, n: int = -1) -> bytes:
        remaining = self._size - self._f.tell()
        if n is not None and n > remaining:
            if n > 16 * max(self._size, 1 << 20):  # corrupt, not cut short
                raise ValueError(f'a pickle opcode gives the length {n}, '
                                 f'far beyond the file size {self._size}')
            raise ValueError(f'a pickle opcode needs {n} bytes but only '
                             f'{remaining} remain')
        return self._f.read(n)

    def __getattr__(self, name):
        return getattr(self._f, name)


def _walk_pickle(f) -> List[Tuple[str, Any]]:
    """One pickle's first 3 opcodes ``(name, arg)``, walked unexecuted to
    its end (ValueError when cut short or not a pickle)."""
    ops = pickletools.genops(_BoundedReader(f))
    return [(op.name, arg) for i, (op, arg, _) in enumerate(ops) if i < 3]


def check_checkpoint_file(path: str) -> str:
    """Check that ``path`` is a complete checkpoint file, without unpickling.

    Returns ``'zip'`` (torch >= 1.6; central directory, member CRCs checked),
    ``'torch_legacy'`` or ``'pickle'`` (``.pkl``), whole to the STOP mark.

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
        if f.read(4) == _ZIP_MAGIC:
            try:
                with zipfile.ZipFile(f) as zf:
                    bad = zf.testzip()
            except (zipfile.BadZipFile, EOFError, OSError) as err:
                raise CheckpointFileError(
                    f'{path} is truncated or corrupt: a torch (zip) '
                    f'checkpoint whose zip directory cannot be read ({err}; '
                    f'{size} bytes); {again}') from err
            if bad is not None:
                raise CheckpointFileError(
                    f'{path} is corrupt: member {bad!r} of the torch (zip) '
                    f'checkpoint fails its CRC check; {again}')
            return 'zip'
        f.seek(0)
        try:
            legacy = _walk_pickle(f)[1:2] == [('LONG1', _TORCH_LEGACY_MAGIC)]
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


# allow-lists: {(module, name): object}
def _builtin_globals() -> Dict[Tuple[str, str], Any]:
    import builtins
    import collections
    names = ('set', 'frozenset', 'complex', 'bytes', 'bytearray', 'slice',
             'range', 'list', 'dict', 'tuple', 'int', 'float', 'str', 'bool')
    out = {('builtins', n): getattr(builtins, n) for n in names}
    out[('collections', 'OrderedDict')] = collections.OrderedDict
    out[('collections', 'defaultdict')] = collections.defaultdict
    out[('_codecs', 'encode')] = __import__('_codecs').encode
    return out


def _numpy_globals(checkpoint: bool = False) -> Dict[Tuple[str, str], Any]:
    """numpy arrays, scalars and dtypes under numpy 1 and 2 names; with
    ``checkpoint`` only those of torch-saved Runner checkpoints (no object,
    string, void, datetime dtypes, no protocol 5 ``_frombuffer``)."""
    core = np._core if hasattr(np, '_core') else np.core
    out = {('numpy', 'ndarray'): np.ndarray, ('numpy', 'dtype'): np.dtype}
    for prefix in ('numpy._core', 'numpy.core'):
        out[(f'{prefix}.multiarray', '_reconstruct')] = \
            core.multiarray._reconstruct
        out[(f'{prefix}.multiarray', 'scalar')] = core.multiarray.scalar
        if hasattr(core.numeric, '_frombuffer') and not checkpoint:
            out[(f'{prefix}.numeric', '_frombuffer')] = \
                core.numeric._frombuffer
    # numpy >= 1.25 pickles dtypes through their classes (np.dtypes.*)
    for code in np.typecodes['All']:
        cls = type(np.dtype(code))
        if cls is not np.dtype and not (checkpoint and code in 'OSUVMm'):
            out[(cls.__module__, cls.__name__)] = cls
    return out


def _torch_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes`` with ``weights_only=True``."""
    return torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)


def _torch_globals(tensors: bool) -> Dict[Tuple[str, str], Any]:
    """``torch.Size``, devices, dtypes, layouts; with ``tensors`` also
    tensors (storage bytes through ``torch.load(weights_only=True)``)."""
    out: Dict[Tuple[str, str], Any] = {
        ('torch', 'Size'): torch.Size,
        ('torch', 'device'): torch.device
    }
    for name in dir(torch):
        obj = getattr(torch, name, None)
        if isinstance(obj, (torch.dtype, torch.layout, torch.memory_format)):
            out[('torch', name)] = obj
    if tensors:
        from torch._utils import _rebuild_tensor_v2
        out[('torch._utils', '_rebuild_tensor_v2')] = _rebuild_tensor_v2
        out[('torch.storage', '_load_from_bytes')] = _torch_bytes
    return out


def _dcp_metadata_globals() -> Dict[Tuple[str, str], Any]:
    import dataclasses

    import torch.distributed.checkpoint.filesystem as dcp_fs
    import torch.distributed.checkpoint.metadata as dcp_md
    out = _torch_globals(tensors=False)
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


#: :func:`load_pickle`'s allow-lists: name -> (what it admits, builder of
#: its ``{(module, name): object}``); builtin containers, scalars: always.
PICKLE_ALLOW_LISTS: Dict[str, Tuple[str, Callable[[], dict]]] = {
    'numpy': ('builtin containers and scalars, numpy arrays / scalars / '
              'dtypes', _numpy_globals),
    'tensors': ('builtin containers and scalars, numpy arrays / scalars / '
                'dtypes, torch tensors', lambda: {
                    **_numpy_globals(),
                    **_torch_globals(tensors=True)
                }),
    'dcp_metadata': ('the dataclasses of torch.distributed.checkpoint '
                     'metadata, torch sizes / dtypes, builtin containers',
                     _dcp_metadata_globals),
}


@functools.lru_cache(maxsize=None)
def _allowed_globals(allowed: str) -> Dict[Tuple[str, str], Any]:
    return {**_builtin_globals(), **PICKLE_ALLOW_LISTS[allowed][1]()}


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the public methods of ``HistoryBuffer``
    (its pickles store ``statistics_methods`` as ``getattr(cls, name)``)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    method = HistoryBuffer.__dict__.get(name) if obj is HistoryBuffer \
        and isinstance(name, str) and not name.startswith('_') else None
    if not isinstance(method, types.FunctionType):
        raise pickle.UnpicklingError(
            f'getattr({getattr(obj, "__name__", type(obj).__name__)}, '
            f'{name!r}) is outside the allow-list (only the public methods '
            'of mmengine.logging.HistoryBuffer)')
    return getattr(obj, name)


def runner_checkpoint_globals() -> List[Tuple[Any, str]]:
    """``(object, name)`` for ``torch.serialization.safe_globals``: what a
    Runner checkpoint holds beyond ``weights_only=True``'s list (numpy
    arrays / scalars / dtypes, ``HistoryBuffer``)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [(obj, f'{module}.{name}')
            for (module, name), obj in _numpy_globals(True).items()
            ] + [(HistoryBuffer, f'{HistoryBuffer.__module__}.HistoryBuffer'),
                 (history_buffer_getattr, 'builtins.getattr')]


def _torch_load(f, trust_pickle: bool, map_location: Any = 'cpu') -> Any:
    """``torch.load`` with ``weights_only=True`` and
    :func:`runner_checkpoint_globals` (full with ``trust_pickle``)."""
    with torch.serialization.safe_globals(runner_checkpoint_globals()):
        return torch.load(
            f, map_location=map_location, weights_only=not trust_pickle)


def _refused_globals(f, err: Exception) -> List[str]:
    """The globals of torch file ``f`` (path or file object) outside
    :func:`runner_checkpoint_globals`, else those ``err`` names."""
    try:
        if hasattr(f, 'seek'):
            f.seek(0)
        with torch.serialization.safe_globals(runner_checkpoint_globals()):
            refused = torch.serialization.get_unsafe_globals_in_checkpoint(f)
    except Exception:  # noqa: B902 - e.g. the legacy (non-zip) format
        refused = []
    return refused or _names_in_error(err)


def _names_in_error(err: Exception) -> List[str]:
    """The globals / classes torch's weights-only unpickler names in ``err``
    (``GLOBAL x.y``, or a class it cannot build: ``but got <class 'x.y'>``).
    """
    text = str(err)
    names = re.findall(r'GLOBAL ([\w.]+)', text) + re.findall(
        r"but got <class '([\w.]+)'>", text)
    return list(dict.fromkeys(names))


# torch's advice around the reason of a weights-only refusal
_TORCH_BOILERPLATE = (
    r'Weights only load failed\.',
    r'This file can still be loaded.*?following error message\.',
    r'\n\t\(\d\) ',
    r'In PyTorch 2\.6, we changed the default value.*?trusted source\.',
    r'Please file an issue with the following so that.*?use case:',
    r'WeightsUnpickler error:',
    r'Please use `torch\.serialization\.add_safe_globals.*?class/function\.',
    r'Check the documentation of torch\.load to learn more.*?\.html\.',
)


def _error_reason(err: Exception, limit: int = 400) -> str:
    """The meaningful part of ``err``'s message on one line: for a refusal
    of ``torch.load(weights_only=True)`` what it refused (``Unsupported
    global: GLOBAL x.y ...``), without torch's advice around it."""
    text = str(err)
    for pattern in _TORCH_BOILERPLATE:
        text = re.sub(pattern, ' ', text, flags=re.S)
    text = ' '.join(text.split())
    return text[:limit] or type(err).__name__


# the one restricted unpickler, and trust
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


def is_trusted(path: str) -> bool:
    """Whether ``path`` is listed in :data:`TRUST_ENV`."""
    listed = [p for p in os.environ.get(TRUST_ENV, '').split(os.pathsep) if p]
    real = osp.realpath(osp.expanduser(path))
    return any(osp.realpath(osp.expanduser(p)) == real for p in listed)


_IN_PYTHON = 'trust_pickle=True in Python, or '
_CHECKPOINT_TRUST = ('--trust-pickle in the converter tools, trust_pickle='
                     'True in Python, or (--resume / load_from) ')


def _trust_hint(path: str, option: str = _IN_PYTHON, noun='file') -> str:
    return (f'If you trust the {noun}, unpickle it without restriction: '
            f'{option}{TRUST_ENV}={path} in the environment (paths '
            'separated by os.pathsep); unpickling can run code from the '
            f'{noun}.')


def load_pickle(path: str,
                allowed: str = 'numpy',
                what: str = 'pickle',
                trust_pickle: bool = False,
                backend_args: Optional[dict] = None,
                encoding: str = 'latin1',
                trust_option: str = _IN_PYTHON) -> Any:
    """Unpickle a file with an allow-list (or fully, if trusted).

    Args:
        path (str): The file (local, or mmengine fileio with backend_args).
        allowed (str): A key of :data:`PICKLE_ALLOW_LISTS`: ``'numpy'``
            (ACT ground truth, label maps, ``.pkl`` checkpoints),
            ``'tensors'`` (dumped predictions) or ``'dcp_metadata'``.
        what (str): What the file is, for the error message.
        trust_pickle (bool): Full unpickling (as :data:`TRUST_ENV`).
        backend_args (dict, optional): As mmengine's ``get_file_backend``.
        encoding (str): As ``pickle.load``'s (latin1: Python 2 pickles).
        trust_option (str): Another way to trust a file, for messages.

    Raises:
        UnsafePickleError: A global outside the allow-list (both named).
        EOFError, pickle.UnpicklingError, ValueError: Truncated or corrupt
            (an ``OverflowError``, ``MemoryError``, ``TypeError``,
            ``KeyError``, ``IndexError`` or ``AttributeError`` of the
            restricted unpickler as an ``UnpicklingError`` naming the file).
    """
    if allowed not in PICKLE_ALLOW_LISTS:
        raise ValueError(f'allowed must be one of {list(PICKLE_ALLOW_LISTS)}'
                         f', got {allowed!r}')
    if backend_args is None and osp.isfile(path):
        f = open(path, 'rb')
    else:
        from mmengine.fileio import get
        f = io.BytesIO(get(path, backend_args=backend_args))
    with f:
        if trust_pickle or is_trusted(path):
            return pickle.load(f, encoding=encoding)
        try:
            return _RestrictedUnpickler(f, allowed, encoding=encoding).load()
        except _RefusedGlobal as err:
            raise UnsafePickleError(
                f'{path}: refused to unpickle this {what}: it asks for the '
                f'global {err.global_name}, which is outside the allow-list '
                f'({PICKLE_ALLOW_LISTS[allowed][0]}); nothing from the file '
                f'was run. {_trust_hint(path, trust_option)}', path,
                err.global_name) from None
        except (OverflowError, MemoryError, TypeError, KeyError, IndexError,
                AttributeError) as err:  # corrupt opcodes or arguments
            raise pickle.UnpicklingError(
                f'{path}: this {what} is corrupt (or larger than memory): '
                f'{type(err).__name__}: {err}') from err


class _DefaultLoadProbe:
    """Pickled by :func:`torch_load_defaults_to_weights_only`: a global
    outside every weights-only allow-list (its unpickling runs nothing)."""


@functools.lru_cache(maxsize=None)
def _default_load_probe() -> bytes:
    buf = io.BytesIO()
    torch.save(_DefaultLoadProbe(), buf)
    return buf.getvalue()


def torch_load_defaults_to_weights_only() -> bool:
    """Whether ``torch.load`` without ``weights_only`` (mmengine's call)
    refuses globals now: torch >= 2.6 unless
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set, torch < 2.6 only with
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD``; found by loading a probe this module
    wrote (a global of its own, no payload).

    Returns:
        bool: True if the default load refuses the probe's global.
    """
    import warnings
    with warnings.catch_warnings():  # torch's TORCH_FORCE_* notice
        warnings.simplefilter('ignore')
        try:
            torch.load(io.BytesIO(_default_load_probe()), map_location='cpu')
        except pickle.UnpicklingError:
            return True
    return False


def load_checkpoint_file(path: str,
                         trust_pickle: bool = False,
                         map_location: Optional[Any] = 'cpu',
                         check_first: bool = True) -> Any:
    """Load a torch checkpoint (``weights_only=True`` plus
    :func:`runner_checkpoint_globals`) or a Caffe2 / PySlowFast ``.pkl``
    (numpy arrays only) safely.

    Args:
        path (str): The file.
        trust_pickle (bool): Full unpickling (as :data:`TRUST_ENV`).
        map_location: As for ``torch.load``. Defaults to ``'cpu'``.
        check_first (bool): :func:`check_checkpoint_file` before loading
            (else only when loading fails, sparing the runtime path a read).

    Raises:
        CheckpointFileError: Missing, empty, truncated, corrupt, or holding
            types outside the allow-list (named, with how to trust it).
    """
    kind = check_checkpoint_file(path) if check_first else None
    if kind is None and not osp.isfile(path):
        raise MissingCheckpointError(f'{path}: no such file')
    trust_pickle = trust_pickle or is_trusted(path)
    try:
        if kind == 'pickle':  # Caffe2 / PySlowFast: numpy arrays in dicts
            return load_pickle(
                path,
                'numpy',
                'checkpoint',
                trust_pickle,
                trust_option=_CHECKPOINT_TRUST)
        return _torch_load(path, trust_pickle, map_location)
    except CheckpointFileError:
        raise
    except Exception as err:  # noqa: B902 - torch/pickle errors, unnamed
        if kind is None:  # truncated or corrupt: says so, torch's error
            try:  # its cause (mmengine's callers get its type too)
                check_checkpoint_file(path)
            except CheckpointFileError as bad:
                raise bad from err
        reason = _error_reason(err)
        if trust_pickle or not isinstance(err, pickle.UnpicklingError):
            raise CheckpointFileError(
                f'{path} could not be read: {type(err).__name__}: '
                f'{reason}') from err
        refused = _refused_globals(path, err)
        what = (f'types outside the allow-list of stmixer_mm checkpoints: '
                f'{", ".join(refused)}') if refused else \
            'an object outside the allow-list of stmixer_mm checkpoints'
        raise CheckpointFileError(
            f'{path} is a complete checkpoint, but safe loading refuses it: '
            f'it holds {what} (torch.load(weights_only=True): {reason}). '
            f'{_trust_hint(path, _CHECKPOINT_TRUST)}') from err


# torch.distributed.checkpoint folders
@functools.lru_cache(maxsize=None)
def _dcp_classes() -> Tuple[type, type, type]:
    """The safe reader and planners (built on first use: slow import)."""
    import dataclasses

    import torch.distributed.checkpoint.default_planner as dcp_planner
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.format_utils import \
        _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.metadata import Metadata, StorageMeta

    class SafeFileSystemReader(FileSystemReader):
        """``FileSystemReader`` reading ``.metadata`` by :func:`load_pickle`,
        checking shard files against it first, naming them in errors."""

        def read_metadata(self, *args, rank=None, **kwargs) -> Metadata:
            cache = self.__dict__.setdefault('_stmixer_metadata', {})
            if rank not in cache:
                cache[rank] = self._read_metadata(
                    str(self._get_metadata_path(rank)))
            cache[rank].storage_meta.load_id = self.load_id
            return cache[rank]

        def _read_metadata(self, path: str) -> Metadata:
            if not osp.isfile(path):
                raise ShardedCheckpointError(
                    f'{path} is missing: a torch.distributed.checkpoint '
                    'folder has one (incomplete copy?)')
            try:
                metadata = load_pickle(
                    path,
                    'dcp_metadata',
                    'torch.distributed.checkpoint metadata',
                    is_trusted(str(self.path)),
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
            """Every listed shard file exists and is long enough."""
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
                if osp.getsize(path) < end:
                    raise ShardedCheckpointError(
                        f'{path} is truncated: the shard file has '
                        f'{osp.getsize(path)} bytes, the metadata of '
                        f'{self.path} needs {end}; copy or download it again')

        def read_data(self, plan, planner):
            """File by file, so that an error names its shard file."""
            per_file: Dict[str, list] = {}
            for item in plan.items:
                rel = self.storage_data[item.storage_index].relative_path
                per_file.setdefault(rel, []).append(item)
            planner.trust_pickle = is_trusted(str(self.path))
            fut = None
            for rel, items in per_file.items():
                path = str(self.fs.concat_path(self.path, rel))
                try:
                    fut = super().read_data(
                        dataclasses.replace(plan, items=items), planner)
                except (pickle.UnpicklingError, RuntimeError, EOFError,
                        OSError, ValueError, AssertionError) as err:
                    # a refused global (ours, or torch's weights_only
                    # message of a tensor item), else a corrupt shard
                    name = getattr(err, 'global_name', '') or ' '.join(
                        _names_in_error(err)[:1])
                    if name:
                        raise UnsafePickleError(
                            f'{path}: refused to unpickle an item of this '
                            'shard file: torch.load(weights_only=True) '
                            f'refuses {name}; nothing from the file was run.'
                            f' {_trust_hint(self.path, "", "folder")}', path,
                            name) from err
                    raise ShardedCheckpointError(
                        f'{path} is corrupt: a shard of the sharded '
                        f'checkpoint {self.path} cannot be read '
                        f'({type(err).__name__}: {str(err)[:300]}); copy or '
                        'download it again') from err
            return super().read_data(plan, planner) if fut is None else fut

    class _SafeBytesMixin:
        """``load_bytes`` (non-tensor items) with ``weights_only=True`` and
        :func:`runner_checkpoint_globals`; full only if :data:`TRUST_ENV`."""

        trust_pickle = False  # the reader sets it for a trusted folder

        def load_bytes(self, read_item, value) -> None:
            try:
                obj = _torch_load(value, self.trust_pickle)
            except pickle.UnpicklingError as err:
                refused = [] if self.trust_pickle else _refused_globals(
                    value, err)
                if refused:
                    raise _RefusedGlobal(', '.join(refused)) from err
                raise
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
    """The reader of every sharded checkpoint stmixer_mm loads: metadata
    by :func:`load_pickle`, shard files named in errors; both checked here
    (PyTorch's load turns a failed ``read_metadata`` into a retry).

    Raises:
        ShardedCheckpointError: Metadata or shard missing, truncated, corrupt.
        UnsafePickleError: The metadata asks for a refused global.
    """
    reader = _dcp_classes()[0](path)
    reader.check_shard_files(reader.read_metadata())
    return reader


def load_sharded_state(path: str,
                       state_dict: Optional[dict] = None,
                       keys: Optional[Sequence[str]] = None) -> dict:
    """Read the torch.distributed.checkpoint folder ``path`` safely (non-tensor
    items ``weights_only=True``) in one process: into ``state_dict`` in place
    (``dcp.load``), else as a new dict (top-level ``keys`` only, if given).

    Raises:
        ShardedCheckpointError: A shard or the metadata missing, truncated,
            corrupt (the first rank's error, not DCP's wrapper).
        UnsafePickleError: The metadata or an item asks for a refused global.
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict
    try:
        if state_dict is not None:
            dcp.load(
                state_dict,
                storage_reader=safe_dcp_reader(path),
                planner=_dcp_classes()[1]())
            return state_dict
        state_dict = {}
        _load_state_dict(
            state_dict,
            storage_reader=safe_dcp_reader(path),
            planner=_dcp_classes()[2](keys=set(keys) if keys else None),
            no_dist=True)
        return state_dict
    except BaseException as err:  # noqa: B902 - DCP's CheckpointException
        # it wraps each rank's error: re-raise ours
        for failure in getattr(err, 'failures', {}).values():
            exc = failure[0] if isinstance(failure, tuple) else failure
            if isinstance(exc, CheckpointFileError):
                raise exc.with_traceback(None) from None
        raise
