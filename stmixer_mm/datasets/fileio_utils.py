"""File checks of the datasets through mmengine's fileio (``backend_args``
as in mmdet's datasets: ``s3://``, ``http://``, ... checked like local)."""
import io
from typing import Iterator, Optional

from mmengine import fileio


def _ask(method: str, path: str, backend_args: Optional[dict]) -> bool:
    backend = fileio.get_file_backend(
        path, backend_args=backend_args, enable_singleton=True)
    try:
        return bool(getattr(backend, method)(path))
    except NotImplementedError:
        # the backend cannot tell (e.g. http): yes, reading says what is wrong
        return True


def is_file(path: str, backend_args: Optional[dict] = None) -> bool:
    """Whether ``path`` is a file (a backend that cannot tell: True).

    Args:
        path (str): Local path or URI of a registered storage backend.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        bool: True for a file, or when the backend cannot tell.
    """
    return _ask('isfile', path, backend_args)


def is_dir(path: str, backend_args: Optional[dict] = None) -> bool:
    """Whether ``path`` is a folder (a backend that cannot tell: True).

    Args:
        path (str): Local path or URI of a registered storage backend.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        bool: True for a folder, or when the backend cannot tell.
    """
    return _ask('isdir', path, backend_args)


def text_lines(path: str,
               backend_args: Optional[dict] = None,
               newline: Optional[str] = None) -> Iterator[str]:
    """The lines of a text file read through the backend, decoded lazily
    (a binary file fails at the line where decoding fails).

    Args:
        path (str): Local path or URI of a registered storage backend.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
        newline (str, optional): As ``open(..., newline=...)``; None
            translates every line ending to ``'\\n'``. Defaults to None.

    Returns:
        Iterator[str]: The lines, each with its line ending.
    """
    data = fileio.get(path, backend_args=backend_args)
    return io.TextIOWrapper(io.BytesIO(data), newline=newline)
