"""Actor mask files: one COCO RLE person mask per keyframe and person, read
by ``AVAActorDataset(mask_file=...)`` (docs/en/masks.md)::

    {"format": "stmixer_mm-actor-masks", "version": 1, "masks": [{"video_id":
     "v_000", "timestamp": 902, "person_id": 0, "size": [H, W], "counts":
     "<COCO RLE of the Fortran-ordered uint8 mask>"}, ...]}
"""
from typing import Dict, Optional, Tuple

from mmengine import fileio

from stmixer_mm.datasets.json_input import parse_json
from stmixer_mm.datasets.mask_rle import (MASK_FILE_FORMAT, MASK_FILE_VERSION,
                                          decode_mask, encode_mask,
                                          run_lengths, write_mask_file)
from .fileio_utils import is_file

__all__ = [
    'MASK_FILE_FORMAT', 'MASK_FILE_VERSION', 'encode_mask', 'decode_mask',
    'write_mask_file', 'load_mask_file'
]

#: ``(video_id, timestamp, person_id)``
MaskKey = Tuple[str, int, int]


def load_mask_file(path: str,
                   backend_args: Optional[dict] = None) -> Dict[MaskKey, dict]:
    """``{(video_id, timestamp, person_id): rle}`` of a mask file, each
    ``rle`` with ``size``, ``counts`` and its pixel count ``area``.

    Args:
        path (str): The JSON mask file (format in the module docstring).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict[tuple[str, int, int], dict]: Keyed by ``(video_id, timestamp,
        person_id)``; each value has ``size`` ([height, width]),
        ``counts`` (str, COCO compressed RLE) and ``area`` (int, mask
        pixels).

    Raises:
        FileNotFoundError: When the file is missing.
        ValueError: Naming the file and record: not a mask file, a bad
            field (counts must cover ``size`` exactly), or a repeated key.
    """
    if not is_file(path, backend_args):
        raise FileNotFoundError(f'actor mask file {path} not found')
    try:
        data = parse_json(
            fileio.get(path, backend_args=backend_args),
            f'actor mask file {path}')
    except ValueError as e:
        raise ValueError(f'{e}; expected an actor mask file') from None
    if not isinstance(data, dict) or data.get('format') != MASK_FILE_FORMAT:
        raise ValueError(
            f'actor mask file {path}: expected a JSON object with '
            f'"format": "{MASK_FILE_FORMAT}" (see '
            'stmixer_mm/datasets/actor_masks.py)')
    if data.get('version') != MASK_FILE_VERSION:
        raise ValueError(f'actor mask file {path}: version '
                         f'{data.get("version")!r}, this version reads '
                         f'{MASK_FILE_VERSION}')
    masks = {}
    for i, rec in enumerate(data.get('masks', [])):
        where = f'actor mask file {path}, masks[{i}]'
        if not isinstance(rec, dict):
            raise ValueError(f'{where}: expected an object, got {rec!r}')
        missing = [
            k for k in ('video_id', 'timestamp', 'person_id', 'size', 'counts')
            if k not in rec
        ]
        if missing:
            raise ValueError(f'{where}: missing {missing}')
        size = rec['size']
        if not (isinstance(size, list) and len(size) == 2
                and all(isinstance(s, int) and s > 0 for s in size)):
            raise ValueError(f'{where}: "size" must be [height, width] '
                             f'(positive integers), got {size!r}')
        if not isinstance(rec['counts'], str):
            raise ValueError(f'{where}: "counts" must be a COCO compressed '
                             'RLE string')
        for field in ('timestamp', 'person_id'):
            if not isinstance(rec[field], int) or rec[field] < 0:
                raise ValueError(f'{where}: "{field}" must be an integer '
                                 f'>= 0, got {rec[field]!r}')
        # runs must cover the size exactly (pycocotools fails later naming
        # nothing on more; fewer would be read short)
        try:
            runs = run_lengths(rec['counts'])
        except ValueError as e:
            raise ValueError(f'{where}: "counts" is not a valid COCO '
                             f'compressed RLE: {e}') from None
        if sum(runs) != size[0] * size[1]:
            raise ValueError(
                f'{where}: "counts" has runs adding up to {sum(runs)} '
                f'pixels, but "size" {size} has {size[0] * size[1]} (the '
                'RLE of another mask size, or damaged)')
        area = sum(runs[1::2])
        key = (str(rec['video_id']), rec['timestamp'], rec['person_id'])
        if key in masks:
            raise ValueError(f'{where}: a second mask of video '
                             f'{key[0]!r}, timestamp {key[1]}, person '
                             f'{key[2]}')
        masks[key] = dict(size=size, counts=rec['counts'], area=area)
    return masks
