"""A storage backend of mmengine's fileio registered for the tests: paths
``rec://<relative path>`` are the files under a local root, and every
access is recorded, so a test can show that a dataset reads and checks its
files through fileio (as with ``s3://`` / ``petrel://`` data) and which
files it touched."""
import os
import os.path as osp
import shutil
import tempfile
from contextlib import contextmanager

import pytest
from mmengine.fileio import BaseStorageBackend
from mmengine.fileio import io as fileio_io
from mmengine.fileio import register_backend
from mmengine.fileio.backends import registry_utils

PREFIX = 'rec'
NAME = 'stmixer-test-recording'


class RecordingBackend(BaseStorageBackend):
    """``rec://a/b`` is ``<root>/a/b``; ``calls`` lists ``(method, path)``
    of every access (class attributes, set by the fixture)."""

    root = None
    calls = []

    def __init__(self, **kwargs):
        # backend_args besides 'backend' arrive here (as for PetrelBackend)
        self.kwargs = kwargs

    def _local(self, filepath) -> str:
        filepath = str(filepath)
        if not filepath.startswith(f'{PREFIX}://'):
            raise ValueError(f'not a {PREFIX}:// path: {filepath}')
        return osp.join(self.root, filepath[len(PREFIX) + 3:])

    def _record(self, method, filepath):
        self.calls.append((method, str(filepath)))
        return self._local(filepath)

    def get(self, filepath) -> bytes:
        with open(self._record('get', filepath), 'rb') as f:
            return f.read()

    def get_text(self, filepath, encoding='utf-8') -> str:
        with open(self._record('get_text', filepath), encoding=encoding) as f:
            return f.read()

    def exists(self, filepath) -> bool:
        return osp.exists(self._record('exists', filepath))

    def isfile(self, filepath) -> bool:
        return osp.isfile(self._record('isfile', filepath))

    def isdir(self, filepath) -> bool:
        return osp.isdir(self._record('isdir', filepath))

    def join_path(self, filepath, *filepaths) -> str:
        return '/'.join([str(filepath).rstrip('/'), *filepaths])

    @contextmanager
    def get_local_path(self, filepath):
        # a remote backend downloads the file: a copy with another name
        src = self._record('get_local_path', filepath)
        tmp = tempfile.mkdtemp()
        try:
            dst = osp.join(tmp, osp.basename(src))
            shutil.copyfile(src, dst)
            yield dst
        finally:
            shutil.rmtree(tmp)

    def list_dir_or_file(self,
                         dir_path,
                         list_dir=True,
                         list_file=True,
                         suffix=None,
                         recursive=False):
        folder = self._record('list_dir_or_file', dir_path)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if (entry.is_dir() and list_dir) or (entry.is_file()
                                                 and list_file):
                if suffix is None or entry.name.endswith(suffix):
                    yield entry.name


@pytest.fixture
def recording_backend(tmp_path):
    """The backend class, serving ``tmp_path / 'remote'`` as ``rec://``;
    unregistered afterwards."""
    root = tmp_path / 'remote'
    root.mkdir()
    RecordingBackend.root = str(root)
    RecordingBackend.calls = []
    register_backend(NAME, RecordingBackend, force=True, prefixes=PREFIX)
    yield RecordingBackend
    registry_utils.backends.pop(NAME, None)
    registry_utils.prefix_to_backends.pop(PREFIX, None)
    for key, backend in list(fileio_io.backend_instances.items()):
        if isinstance(backend, RecordingBackend):  # get_file_backend's cache
            del fileio_io.backend_instances[key]
    RecordingBackend.calls = []
