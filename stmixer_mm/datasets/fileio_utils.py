"""File checks of the datasets through mmengine's fileio (``backend_args``
as in mmdet's datasets: ``s3://``, ``http://``, ... checked like local)."""
import io
import os
import re
import string
from typing import AbstractSet, Iterator, List, Optional

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


def frame_file_names(folder: str,
                     backend_args: Optional[dict] = None) -> Optional[set]:
    """The file names of a frame folder, listed once, as mmengine's
    ``list_dir_or_file(folder, list_dir=False)`` lists them (hidden files
    left out); a local folder by one ``os.scandir`` pass keeping only the
    names (mmengine forms a relative path per file: 4x slower).

    Args:
        folder (str): The frame folder (local path or URI).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        set[str] | None: The file names; None when the backend cannot list
        folders (e.g. http).
    """
    backend = fileio.get_file_backend(
        folder, backend_args=backend_args, enable_singleton=True)
    if isinstance(backend, fileio.LocalBackend):
        with os.scandir(folder) as entries:
            return {
                e.name
                for e in entries if not e.name.startswith('.') and e.is_file()
            }
    try:
        return set(
            fileio.list_dir_or_file(
                folder, list_dir=False, backend_args=backend_args))
    except NotImplementedError:
        return None


def _frame_indices(names: AbstractSet[str], filename_tmpl: str) -> List[int]:
    """The indices ``i`` of the names that are ``filename_tmpl.format(i)``
    (a template with other than one field: none)."""
    parts = list(string.Formatter().parse(filename_tmpl))
    fields = [
        i for i, (_, field, _, _) in enumerate(parts) if field is not None
    ]
    if len(fields) != 1:
        return []
    cut = fields[0]
    before = ''.join(p[0] for p in parts[:cut + 1])
    after = ''.join(p[0] for p in parts[cut + 1:])
    pattern = re.compile(re.escape(before) + r'(\d+)' + re.escape(after))
    found = (pattern.fullmatch(name) for name in names)
    return [
        int(m.group(1)) for m in found
        if m and filename_tmpl.format(int(m.group(1))) == m.group(0)
    ]


def frame_folder_gap(folder: str,
                     names: AbstractSet[str],
                     filename_tmpl: str,
                     start_index: int,
                     num_frames: Optional[int] = None) -> Optional[str]:
    """The error of a frame folder missing a frame file inside its frames
    (a clip would silently read other frames in its place), or None.

    Frame files ``filename_tmpl.format(i)`` are expected for every ``i``
    from ``start_index`` to ``start_index + num_frames - 1`` or, without
    ``num_frames``, to the greatest one present (a shorter video is no
    gap). With ``start_index=0`` and no file 0 the frames may start at 1
    (mmaction2's AVA frames are ``img_00001.jpg``, ...).

    Args:
        folder (str): The frame folder (named in the message).
        names (AbstractSet[str]): Its file names
            (:func:`frame_file_names`).
        filename_tmpl (str): E.g. ``'img_{:05}.jpg'``.
        start_index (int): The first frame file's number.
        num_frames (int, optional): The frames the video has (the
            annotation's); None: up to the last frame file present.

    Returns:
        str | None: ``'frame folder <folder>: frame file <name> is
        missing ...'``, naming the first missing file and the expected
        files; None when every expected file is there.
    """
    tmpl, first = filename_tmpl, start_index
    if num_frames is None:
        if first == 0 and tmpl.format(0) not in names:
            first = 1
        if names.issuperset(
                map(tmpl.format, range(first, first + len(names)))):
            return None  # every name a frame file from the first on
        last = max(_frame_indices(names, tmpl), default=first - 1)
        upto = 'up to the last frame file there'
    else:
        last = first + num_frames - 1
        upto = f'for the video\'s {num_frames} frames'
    expected = range(first, last + 1)
    if names.issuperset(map(tmpl.format, expected)):
        return None
    missing = [tmpl.format(i) for i in expected if tmpl.format(i) not in names]
    more = (f' (also {", ".join(missing[1:4])}'
            f'{", ..." if len(missing) > 4 else ""})'
            if len(missing) > 1 else '')
    return (f'frame folder {folder}: frame file {missing[0]} is '
            f'missing{more}; {len(missing)} of the {len(expected)} files '
            f'{tmpl.format(first)}..{tmpl.format(last)} expected {upto} '
            f'(filename_tmpl={tmpl!r}, start_index={start_index}) are '
            'absent, so a clip would read other frames in their place or '
            'fail mid-training: re-extract the frames of this video')
