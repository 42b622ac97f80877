"""Reading checkpoints and pickles safely: the only module of stmixer_mm
that unpickles (``tests/test_pickle_policy.py``), each file through an
allow-list unless trusted (docs/en/get_started.md, docs/en/bad_inputs.md).

Torch files load with ``torch.load(weights_only=True)`` plus
:func:`runner_checkpoint_globals` in a ``torch.serialization.safe_globals``
scope (torch's process-wide list is left as it is); plain pickles (ACT
ground truth, label maps, dumped predictions, Caffe2 ``.pkl`` weights, the
``.metadata`` of a torch.distributed.checkpoint folder, whose pickle
protocols torch's weights-only unpickler does not read) through a
``pickle.Unpickler`` whose ``find_class`` returns only allow-listed objects.
"""
import builtins
import codecs
import collections
import dataclasses
import functools
import io
import os
import os.path as osp
import pickle
import warnings
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = [
    'CheckpointFileError', 'TRUST_ENV', 'load_checkpoint_file',
    'runner_checkpoint_globals', 'is_trusted', 'PICKLE_ALLOW_LISTS',
    'load_pickle', 'safe_dcp_reader', 'load_sharded_state',
    'torch_load_defaults_to_weights_only'
]

#: Files (``os.pathsep``-separated) to unpickle in full, e.g. for
#: ``--resume`` / ``load_from`` of files outside the allow-list; trusted only.
TRUST_ENV = 'STMIXER_MM_TRUSTED_CHECKPOINTS'


class CheckpointFileError(ValueError):
    """A checkpoint or pickle that cannot be read safely: empty, truncated,
    corrupt, a piece of a sharded folder missing, or asking for a global
    outside its allow-list (refused before anything of it ran); the message
    names the file and what is wrong (the refused global, how to trust it).
    A missing file is one too, raised from the ``FileNotFoundError``
    (mmengine's loader hands that on, naming the file)."""


# allow-lists: {'module.name': object}
def _numpy_globals(checkpoint: bool = False) -> Dict[str, Any]:
    """numpy arrays, scalars and dtypes under numpy 1 and 2 names; with
    ``checkpoint`` only those of torch-saved Runner checkpoints (no object,
    string, void, datetime dtypes, no protocol 5 ``_frombuffer``)."""
    core = np._core if hasattr(np, '_core') else np.core
    out = {'numpy.ndarray': np.ndarray, 'numpy.dtype': np.dtype}
    for prefix in ('numpy._core', 'numpy.core'):
        out[f'{prefix}.multiarray._reconstruct'] = core.multiarray._reconstruct
        out[f'{prefix}.multiarray.scalar'] = core.multiarray.scalar
        if not checkpoint:
            out[f'{prefix}.numeric._frombuffer'] = core.numeric._frombuffer
    for code in np.typecodes['All']:  # numpy >= 1.25: classes (np.dtypes.*)
        cls = type(np.dtype(code))
        if cls is not np.dtype and not (checkpoint and code in 'OSUVMm'):
            out[f'{cls.__module__}.{cls.__name__}'] = cls
    return out


def _torch_globals() -> Dict[str, Any]:
    """What ``torch.load(weights_only=True)`` builds: torch's own list."""
    from torch._weights_only_unpickler import _get_allowed_globals
    return _get_allowed_globals()


def _dcp_metadata_globals() -> Dict[str, Any]:
    import pathlib

    import torch.distributed.checkpoint.filesystem as dcp_fs
    import torch.distributed.checkpoint.metadata as dcp_md
    out = {f'pathlib.{n}': getattr(pathlib, n) for n in pathlib.__all__}
    out.update((f'{dcp_md.__name__}.{name}', obj)
               for name, obj in vars(dcp_md).items()
               if isinstance(obj, type) and obj.__module__ == dcp_md.__name__)
    out[f'{dcp_fs.__name__}._StorageInfo'] = dcp_fs._StorageInfo
    return {**_torch_globals(), **out}


#: :func:`load_pickle`'s allow-lists: name -> (what it admits, builder of
#: its ``{'module.name': object}``); builtin containers, scalars: always.
PICKLE_ALLOW_LISTS = {
    'numpy': ('builtin containers and scalars, numpy arrays / scalars / '
              'dtypes', _numpy_globals),
    'tensors':
    ('builtin containers and scalars, numpy arrays / scalars / '
     'dtypes, torch tensors', lambda: {
         **_numpy_globals(),
         **_torch_globals(), 'torch.storage._load_from_bytes':
         lambda b: torch.load(io.BytesIO(b), 'cpu', weights_only=True)
     }),
    'dcp_metadata':
    ('builtin containers and scalars, the classes of '
     'torch.distributed.checkpoint metadata, paths, what '
     'torch.load(weights_only=True) builds', _dcp_metadata_globals),
}


@functools.lru_cache(maxsize=None)
def _allowed_globals(allowed: str) -> Dict[str, Any]:
    names = ('set frozenset complex bytes bytearray slice range list dict '
             'tuple int float str bool')
    out = {
        f'builtins.{name}': getattr(builtins, name)
        for name in names.split()
    }
    out.update({
        '_codecs.encode': codecs.encode,
        'collections.OrderedDict': collections.OrderedDict,
        'collections.defaultdict': collections.defaultdict
    })
    return {**out, **PICKLE_ALLOW_LISTS[allowed][1]()}


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the public methods of ``HistoryBuffer``
    (its pickles store ``statistics_methods`` as ``getattr(cls, name)``)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is not HistoryBuffer or not isinstance(name, str) or \
            name.startswith('_') or not callable(vars(obj).get(name)):
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
    return [(obj, name) for name, obj in _numpy_globals(True).items()] + [
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (history_buffer_getattr, 'builtins.getattr')
    ]


class _Unpickler(pickle.Unpickler):
    """Builds only the globals of one allow-list; any other one is refused
    before it is imported (``refused``: its name)."""
    refused = ''

    def find_class(self, module: str, name: str) -> Any:
        import _compat_pickle  # Python 2 names (__builtin__, copy_reg)
        module, name = _compat_pickle.NAME_MAPPING.get(
            (module, name),
            (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        if f'{module}.{name}' not in self.allowed:
            self.refused = f'{module}.{name}'
            raise pickle.UnpicklingError(f'{self.refused} is refused')
        return self.allowed[f'{module}.{name}']


def is_trusted(path: str) -> bool:
    """Whether ``path`` is listed in :data:`TRUST_ENV`."""
    listed = os.environ.get(TRUST_ENV, '').split(os.pathsep)
    real = osp.realpath(osp.expanduser(path))
    return any(p and osp.realpath(osp.expanduser(p)) == real for p in listed)


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
            ``'tensors'`` (dumped predictions) or ``'dcp_metadata'``;
            builtin containers and scalars always.
        what (str): What the file is, for the error message.
        trust_pickle (bool): Full unpickling (as :data:`TRUST_ENV`).
        backend_args (dict, optional): As mmengine's ``get_file_backend``.
        encoding (str): As ``pickle.load``'s (latin1: Python 2 pickles).
        trust_option (str): Another way to trust a file, for messages.

    Raises:
        CheckpointFileError: A global outside the allow-list (both named;
            nothing of the file ran).
        EOFError, pickle.UnpicklingError, ValueError: Truncated or corrupt
            (an ``OverflowError``, ``MemoryError``, ``TypeError``,
            ``KeyError``, ``IndexError`` or ``AttributeError`` of the
            restricted unpickler as an ``UnpicklingError`` naming the file).
    """
    from mmengine.fileio import get
    f = open(path, 'rb') if backend_args is None and osp.isfile(path) else \
        io.BytesIO(get(path, backend_args=backend_args))
    with f:
        if trust_pickle or is_trusted(path):
            return pickle.load(f, encoding=encoding)
        unpickler = _Unpickler(f, encoding=encoding)
        unpickler.allowed = _allowed_globals(allowed)
        try:
            return unpickler.load()
        except (pickle.UnpicklingError, OverflowError, MemoryError, TypeError,
                KeyError, IndexError, AttributeError) as err:
            if unpickler.refused:
                raise CheckpointFileError(
                    f'{path}: refused to unpickle this {what}: it asks for '
                    f'the global {unpickler.refused}, which is outside the '
                    f'allow-list ({PICKLE_ALLOW_LISTS[allowed][0]}); nothing '
                    f'from the file was run. {_trust_hint(path, trust_option)}'
                ) from None
            if isinstance(err, pickle.UnpicklingError):
                raise
            raise pickle.UnpicklingError(  # corrupt opcodes or arguments
                f'{path}: this {what} is corrupt (or larger than memory): '
                f'{type(err).__name__}: {err}') from err


class _DefaultLoadProbe:
    """Pickled by :func:`torch_load_defaults_to_weights_only`: a global
    outside every weights-only allow-list (its unpickling runs nothing)."""


def torch_load_defaults_to_weights_only() -> bool:
    """Whether ``torch.load`` without ``weights_only`` (mmengine's call)
    refuses globals now: torch >= 2.6 unless
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set, torch < 2.6 only with
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD``; found by loading a probe this module
    wrote (a global of its own, no payload).

    Returns:
        bool: True if the default load refuses the probe's global.
    """
    probe = io.BytesIO()
    torch.save(_DefaultLoadProbe(), probe)
    probe.seek(0)
    with warnings.catch_warnings():  # torch's TORCH_FORCE_* notice
        warnings.simplefilter('ignore')
        try:
            torch.load(probe, map_location='cpu')
        except pickle.UnpicklingError:
            return True
    return False


def _torch_load(f, trust_pickle: bool, map_location: Any = 'cpu') -> Any:
    """``torch.load`` with ``weights_only=True`` and
    :func:`runner_checkpoint_globals` (full with ``trust_pickle``)."""
    with torch.serialization.safe_globals(runner_checkpoint_globals()):
        return torch.load(
            f, map_location=map_location, weights_only=not trust_pickle)


def _refused(f, err: pickle.UnpicklingError) -> str:
    """What the weights-only load of the torch file ``f`` (a path or file
    object) refused: the globals outside :func:`runner_checkpoint_globals`
    (else a class torch could not build), with torch's reason on one line
    (its own error, without the advice around it)."""
    try:
        if hasattr(f, 'seek'):
            f.seek(0)
        with torch.serialization.safe_globals(runner_checkpoint_globals()):
            names = torch.serialization.get_unsafe_globals_in_checkpoint(f)
    except Exception:  # noqa: B902 - e.g. the legacy (non-zip) format
        names = []
    reason = str(err.__context__ or err).split(' Please use `torch.')[0]
    reason = ' '.join(reason.split())[:400]
    built = reason.partition("but got <class '")[2].split("'")[0]
    names = ', '.join(names) or built
    what = f'types outside the allow-list of stmixer_mm checkpoints: {names}' \
        if names else 'an object outside the allow-list of stmixer_mm ' \
        'checkpoints'
    return f'{what} (torch.load(weights_only=True): {reason})'


#: torch's legacy (non-zip) files begin with this number, pickled
_LEGACY_MAGIC = torch.serialization.MAGIC_NUMBER.to_bytes(10, 'little')


def _check_zip(path: str, head: bytes, cause: Exception = None) -> None:
    """Raise naming ``path`` (from ``cause``, the error of loading it) if it
    is a torch zip whose directory cannot be read or whose member fails its
    CRC check (torch reads no CRC)."""
    if not head.startswith(b'PK\x03\x04'):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise CheckpointFileError(
            f'{path} is truncated or corrupt: a torch (zip) checkpoint whose '
            f'zip directory cannot be read ({err}; {osp.getsize(path)} '
            'bytes); download or copy it again') from cause or err
    if bad is not None:
        raise CheckpointFileError(
            f'{path} is corrupt: member {bad!r} of the torch (zip) '
            'checkpoint fails its CRC check; download or copy it again'
        ) from cause


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
        check_first (bool): Check a zip file's member CRCs before loading
            (else only when loading fails, sparing the runtime path a read).

    Raises:
        CheckpointFileError: Missing (its ``__cause__`` a
            ``FileNotFoundError``), empty, truncated, corrupt, or holding
            types outside the allow-list (named, with how to trust it); the
            error of torch or pickle is its ``__cause__``.
    """
    if not osp.isfile(path):
        raise CheckpointFileError(f'{path}: no such file') from \
            FileNotFoundError(2, 'No such file or directory', path)
    trust_pickle = trust_pickle or is_trusted(path)
    with open(path, 'rb') as f:
        head = f.read(16)
    is_torch = head.startswith(b'PK\x03\x04') or _LEGACY_MAGIC in head
    try:
        if check_first:
            _check_zip(path, head)
        if is_torch:
            return _torch_load(path, trust_pickle, map_location)
        # Caffe2 / PySlowFast: numpy arrays in dicts
        return load_pickle(
            path,
            'numpy',
            'checkpoint',
            trust_pickle,
            trust_option=_CHECKPOINT_TRUST)
    except CheckpointFileError:
        raise
    except Exception as err:  # noqa: B902 - torch/pickle errors, unnamed
        _check_zip(path, head, err)
        reason = ' '.join(str(err).split())[:400] or type(err).__name__
        if not head:
            what = 'is empty (0 bytes): truncated download or copy'
        elif isinstance(err, EOFError) or 'truncated' in reason:
            what = (f'is truncated: its data ends before the end of its '
                    f'pickle ({reason}); download or copy it again')
        elif not is_torch:
            what = ('is corrupt or not a checkpoint: neither a torch zip file'
                    f' nor a valid pickle ({reason})')
        elif trust_pickle or not isinstance(err, pickle.UnpicklingError):
            what = f'could not be read: {type(err).__name__}: {reason}'
        else:
            what = ('is a complete checkpoint, but safe loading refuses it: '
                    f'it holds {_refused(path, err)}. '
                    f'{_trust_hint(path, _CHECKPOINT_TRUST)}')
        raise CheckpointFileError(f'{path} {what}') from err


# torch.distributed.checkpoint folders
@functools.lru_cache(maxsize=None)
def _dcp_classes() -> Tuple[type, type]:
    """The safe reader and planner (built on first use: slow import)."""
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.default_planner import (
        DefaultLoadPlanner, _EmptyStateDictLoadPlanner, set_element)
    from torch.distributed.checkpoint.metadata import Metadata, StorageMeta

    class SafeFileSystemReader(FileSystemReader):
        """torch's reader, its ``.metadata`` read by :func:`load_pickle`
        (torch's reader unpickles it in full), a failing shard file named
        (missing, truncated, corrupt, or asking for a refused global)."""

        def read_metadata(self, *args, rank=None, **kwargs) -> Metadata:
            path = str(self._get_metadata_path(rank))
            try:
                metadata = load_pickle(
                    path,
                    'dcp_metadata',
                    'torch.distributed.checkpoint metadata',
                    is_trusted(str(self.path)),
                    trust_option='')
            except (OSError, EOFError, pickle.UnpicklingError, ValueError,
                    TypeError, AttributeError) as err:
                if isinstance(err, CheckpointFileError):
                    raise
                how = 'missing' if isinstance(err, FileNotFoundError) else \
                    'truncated or corrupt'
                raise CheckpointFileError(
                    f'{path} is {how}: the metadata of the torch.distributed.'
                    f'checkpoint folder cannot be read ({type(err).__name__}: '
                    f'{err}); copy the folder again') from err
            if not isinstance(metadata, Metadata):
                raise CheckpointFileError(
                    f'{path}: expected torch.distributed.checkpoint Metadata'
                    f', got {type(metadata).__name__}')
            metadata.storage_meta = metadata.storage_meta or StorageMeta()
            metadata.storage_meta.load_id = self.load_id
            return metadata

        def read_data(self, plan, planner):
            """File by file, so that an error names its shard file."""
            per_file: Dict[str, list] = {}
            for item in plan.items:
                rel = self.storage_data[item.storage_index].relative_path
                per_file.setdefault(rel, []).append(item)
            for rel, items in per_file.items():
                path = str(self.fs.concat_path(self.path, rel))
                try:
                    super().read_data(
                        dataclasses.replace(plan, items=items), planner)
                except CheckpointFileError as err:  # SafeLoadPlanner's
                    raise CheckpointFileError(
                        f'{path}: refused to unpickle an item of this shard '
                        f'file: it holds {err}; nothing from the file was '
                        'run. '
                        f'{_trust_hint(self.path, "", "folder")}') from err
                except (pickle.UnpicklingError, RuntimeError, EOFError,
                        OSError, ValueError, AssertionError) as err:
                    size = osp.getsize(path) if osp.isfile(path) else -1
                    need = max(self.storage_data[i.storage_index].offset +
                               self.storage_data[i.storage_index].length
                               for i in items)
                    how = 'missing' if size < 0 else 'corrupt' if \
                        size >= need else f'truncated ({size} bytes, {need} ' \
                        'needed by the metadata)'
                    raise CheckpointFileError(
                        f'{path} is {how}: a shard file of the sharded '
                        f'checkpoint {self.path} cannot be read '
                        f'({type(err).__name__}: {str(err)[:300]}); copy or '
                        'download it again') from err
            return super().read_data(
                dataclasses.replace(plan, items=[]), planner)

    class SafeLoadPlanner(_EmptyStateDictLoadPlanner):
        """torch's planner: into a given ``state_dict`` (its
        ``DefaultLoadPlanner``), else rebuilding one from the metadata; the
        non-tensor items read with ``weights_only=True`` and
        :func:`runner_checkpoint_globals` (torch's planner reads them in
        full), in full only if ``trusted``."""
        trusted = False

        def set_up_planner(self, state_dict, *args, **kwargs) -> None:
            base = DefaultLoadPlanner if state_dict else \
                _EmptyStateDictLoadPlanner
            base.set_up_planner(self, state_dict, *args, **kwargs)

        def load_bytes(self, read_item, value) -> None:
            try:
                obj = _torch_load(value, self.trusted)
            except pickle.UnpicklingError as err:
                if self.trusted:
                    raise
                raise CheckpointFileError(_refused(value, err)) from err
            fqn = read_item.dest_index.fqn
            if self.flatten_state_dict:
                set_element(self.original_state_dict, self.mappings[fqn], obj)
            else:
                self.state_dict[fqn] = obj

    return SafeFileSystemReader, SafeLoadPlanner


def safe_dcp_reader(path: str):
    """The reader of every sharded checkpoint stmixer_mm loads: metadata
    by :func:`load_pickle`, shard files named in errors; the metadata read
    here (PyTorch's load turns a failed ``read_metadata`` into a retry).

    Raises:
        CheckpointFileError: The metadata missing, truncated, corrupt, or
            asking for a refused global.
    """
    reader = _dcp_classes()[0](path)
    reader.read_metadata()
    return reader


def load_sharded_state(path: str,
                       state_dict: Optional[dict] = None,
                       keys: Optional[Sequence[str]] = None) -> dict:
    """Read the torch.distributed.checkpoint folder ``path`` safely (non-tensor
    items ``weights_only=True``): into ``state_dict`` in place (each rank its
    shards, if distributed), else as a new dict in this process (top-level
    ``keys`` only, if given).

    Raises:
        CheckpointFileError: A shard or the metadata missing, truncated,
            corrupt, or asking for a refused global (the first rank's
            error, not DCP's wrapper).
    """
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict
    planner = _dcp_classes()[1](keys=set(keys) if keys else None)
    planner.trusted = is_trusted(path)
    out = {} if state_dict is None else state_dict
    distributed = state_dict is not None and torch.distributed.is_available(
    ) and torch.distributed.is_initialized()
    try:
        _load_state_dict(
            out,
            storage_reader=safe_dcp_reader(path),
            planner=planner,
            no_dist=not distributed)
        return out
    except BaseException as err:  # noqa: B902 - DCP's CheckpointException
        # it wraps each rank's error: re-raise ours
        for failure in getattr(err, 'failures', {}).values():
            exc = failure[0] if isinstance(failure, tuple) else failure
            if isinstance(exc, CheckpointFileError):
                raise exc.with_traceback(None) from None
        raise
