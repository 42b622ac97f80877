"""Reading checkpoints and pickles safely: the only module of stmixer_mm
that unpickles (``tests/test_pickle_policy.py``), each file through an
allow-list unless trusted (docs/en/get_started.md, docs/en/bad_inputs.md).

Torch files load with ``torch.load(weights_only=True)`` plus
:func:`runner_checkpoint_globals` in a ``torch.serialization.safe_globals``
scope (torch's process-wide list is left as it is); plain pickles (ACT
ground truth, label maps, dumped predictions, Caffe2 ``.pkl`` weights, and
for ``engine/dcp_reader.py`` the ``.metadata`` of a
torch.distributed.checkpoint folder, whose pickle protocols torch's
weights-only unpickler does not read) through a ``pickle.Unpickler`` whose
``find_class`` returns only allow-listed objects.
"""
import builtins
import codecs
import collections
import functools
import io
import os
import os.path as osp
import pickle
import zipfile
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
# what ``torch.load(weights_only=True)`` builds: torch's own list
from torch._weights_only_unpickler import _get_allowed_globals

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


#: :func:`load_pickle`'s allow-lists: name -> (what it admits, builder of
#: its ``{'module.name': object}``); builtin containers, scalars: always.
PICKLE_ALLOW_LISTS = {
    'numpy': ('builtin containers and scalars, numpy arrays / scalars / '
              'dtypes', _numpy_globals),
    'tensors':
    ('builtin containers and scalars, numpy arrays / scalars / '
     'dtypes, torch tensors', lambda: {
         **_numpy_globals(),
         **_get_allowed_globals(), 'torch.storage._load_from_bytes':
         lambda b: torch.load(io.BytesIO(b), 'cpu', weights_only=True)
     }),
}


@functools.lru_cache(maxsize=None)
def _allowed_globals(allowed: str) -> Dict[str, Any]:
    out = {
        f'builtins.{name}': getattr(builtins, name)
        for name in ('set frozenset complex bytes bytearray slice range list '
                     'dict tuple int float str bool').split()
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


def trust_hint(path: str, option: str = _IN_PYTHON, noun='file') -> str:
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
            ``'tensors'`` (dumped predictions) or one a module adds
            (``'dcp_metadata'``); builtin containers and scalars always.
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
                    f'from the file was run. {trust_hint(path, trust_option)}'
                ) from None
            if isinstance(err, pickle.UnpicklingError):
                raise
            raise pickle.UnpicklingError(  # corrupt opcodes or arguments
                f'{path}: this {what} is corrupt (or larger than memory): '
                f'{type(err).__name__}: {err}') from err


def torch_load_safe(f, trust_pickle: bool, map_location: Any = 'cpu') -> Any:
    """``torch.load`` with ``weights_only=True`` and
    :func:`runner_checkpoint_globals` (full with ``trust_pickle``)."""
    with torch.serialization.safe_globals(runner_checkpoint_globals()):
        return torch.load(
            f, map_location=map_location, weights_only=not trust_pickle)


def refused_reason(f, err: pickle.UnpicklingError) -> str:
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
    # torch's legacy (non-zip) files begin with its magic number, pickled
    is_torch = head.startswith(b'PK\x03\x04') or \
        torch.serialization.MAGIC_NUMBER.to_bytes(10, 'little') in head
    try:
        if check_first:
            _check_zip(path, head)
        if is_torch:
            return torch_load_safe(path, trust_pickle, map_location)
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
                    f'it holds {refused_reason(path, err)}. '
                    f'{trust_hint(path, _CHECKPOINT_TRUST)}')
        raise CheckpointFileError(f'{path} {what}') from err
