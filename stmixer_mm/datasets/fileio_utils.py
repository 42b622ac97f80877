"""File checks of the datasets through mmengine's fileio.

With a ``backend_args`` dict (as mmdet's datasets), a path of any
registered storage backend (``s3://``, ``http://``, ...) is read and
checked like a local one.
"""
import io
from typing import Iterator, Optional

from mmengine import fileio


def _ask(method: str, path: str, backend_args: Optional[dict]):
    backend = fileio.get_file_backend(
        path, backend_args=backend_args, enable_singleton=True)
    try:
        return getattr(backend, method)(path)
    except NotImplementedError:
        return None  # the backend cannot tell (e.g. http)


def is_file(path: str, backend_args: Optional[dict] = None) -> bool:
    """Whether ``path`` is a file; a backend that cannot tell counts as yes
    (reading the file then says what is wrong)."""
    found = _ask('isfile', path, backend_args)
    return True if found is None else bool(found)


def is_dir(path: str, backend_args: Optional[dict] = None) -> bool:
    """Whether ``path`` is a folder; a backend that cannot tell counts as
    yes (as in :func:`is_file`)."""
    found = _ask('isdir', path, backend_args)
    return True if found is None else bool(found)


def text_lines(path: str,
               backend_args: Optional[dict] = None,
               newline: Optional[str] = None) -> Iterator[str]:
    """The lines of a text file read through the backend, decoded lazily
    (a binary file fails at the line where decoding fails)."""
    data = fileio.get(path, backend_args=backend_args)
    return io.TextIOWrapper(io.BytesIO(data), newline=newline)
