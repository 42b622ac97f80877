"""COCO RLE of actor masks and the actor mask file's writer (the format is
described in :mod:`stmixer_mm.datasets.actor_masks`, which reads it)."""
import json
from typing import Iterable

import numpy as np
from pycocotools import mask as mask_utils

MASK_FILE_FORMAT = 'stmixer_mm-actor-masks'
MASK_FILE_VERSION = 1


def encode_mask(mask: np.ndarray) -> dict:
    """COCO compressed RLE ``{'size': [h, w], 'counts': str}`` of a 2-D
    boolean mask."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(
        size=[int(s) for s in rle['size']],
        counts=rle['counts'].decode('ascii'))


def decode_mask(rle: dict) -> np.ndarray:
    """The boolean ``[h, w]`` mask of :func:`encode_mask`'s RLE."""
    return mask_utils.decode(
        dict(size=list(rle['size']),
             counts=rle['counts'].encode('ascii'))).astype(bool)


def write_mask_file(path: str, records: Iterable[dict]) -> int:
    """Write the records (``video_id``, ``timestamp``, ``person_id``,
    ``size``, ``counts``) as a mask file; returns their number."""
    records = list(records)
    with open(path, 'w') as f:
        json.dump(
            dict(
                format=MASK_FILE_FORMAT,
                version=MASK_FILE_VERSION,
                masks=records), f)
    return len(records)


def mask_area(rle: dict) -> int:
    """The number of pixels of :func:`encode_mask`'s RLE."""
    return int(
        mask_utils.area(
            dict(size=list(rle['size']),
                 counts=rle['counts'].encode('ascii'))))
