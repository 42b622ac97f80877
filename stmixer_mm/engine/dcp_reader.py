"""The reader of torch.distributed.checkpoint folders (sharded
checkpoints): their ``.metadata`` through the restricted unpickler of
:mod:`stmixer_mm.utils.checkpoint_loading` (its ``'dcp_metadata'``
allow-list), the non-tensor items with ``weights_only=True``, a failing
shard file named."""
import dataclasses
import functools
import os.path as osp
import pickle
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch._weights_only_unpickler import _get_allowed_globals

from stmixer_mm.utils.checkpoint_loading import (PICKLE_ALLOW_LISTS,
                                                 CheckpointFileError,
                                                 is_trusted, load_pickle,
                                                 refused_reason,
                                                 torch_load_safe, trust_hint)

__all__ = ['safe_dcp_reader', 'load_sharded_state']


def _dcp_metadata_globals() -> Dict[str, Any]:
    """The classes of DCP metadata, paths, what torch's weights-only load
    builds."""
    import pathlib

    import torch.distributed.checkpoint.filesystem as dcp_fs
    import torch.distributed.checkpoint.metadata as dcp_md
    out = {f'pathlib.{n}': getattr(pathlib, n) for n in pathlib.__all__}
    out.update((f'{dcp_md.__name__}.{name}', obj)
               for name, obj in vars(dcp_md).items()
               if isinstance(obj, type) and obj.__module__ == dcp_md.__name__)
    out[f'{dcp_fs.__name__}._StorageInfo'] = dcp_fs._StorageInfo
    return {**_get_allowed_globals(), **out}


PICKLE_ALLOW_LISTS['dcp_metadata'] = (
    'builtin containers and scalars, the classes of '
    'torch.distributed.checkpoint metadata, paths, what '
    'torch.load(weights_only=True) builds', _dcp_metadata_globals)


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
                        f'{trust_hint(self.path, "", "folder")}') from err
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
                obj = torch_load_safe(value, self.trusted)
            except pickle.UnpicklingError as err:
                if self.trusted:
                    raise
                raise CheckpointFileError(refused_reason(value, err)) from err
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
