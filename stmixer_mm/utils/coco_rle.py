"""COCO compressed RLE of boolean masks, pycocotools' codec: the results'
``mask`` field (written by the result formatter, drawn by ``draw_tracks``)
and the actor mask files."""
import numpy as np
from pycocotools import mask as mask_utils


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


def mask_area(rle: dict) -> int:
    """The number of pixels of :func:`encode_mask`'s RLE."""
    return int(
        mask_utils.area(
            dict(size=list(rle['size']),
                 counts=rle['counts'].encode('ascii'))))
