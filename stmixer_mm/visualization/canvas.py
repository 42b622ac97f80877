"""Drawing primitives of the visualizer and ``draw_tracks``: a frame scaled
up for drawing, a mask filled in a colour."""
from typing import Tuple

import cv2
import numpy as np

from stmixer_mm.utils.coco_rle import decode_mask

#: opacity of a person's mask colour
MASK_ALPHA = 0.45


def scale_up(
        image: np.ndarray,
        min_short_side: int,
        interpolation: int = cv2.INTER_LINEAR) -> Tuple[np.ndarray, float]:
    """Scale an image up to a short side of ``min_short_side``.

    Args:
        image (np.ndarray): ``[H, W, C]`` image.
        min_short_side (int): The short side wanted (0: never scale).
        interpolation (int): OpenCV's. Defaults to ``cv2.INTER_LINEAR``.

    Returns:
        tuple[np.ndarray, float]: A copy, scaled where its short side is
        smaller, and the factor (>= 1).
    """
    h, w = image.shape[:2]
    s = max(1.0, min_short_side / min(h, w)) if min_short_side > 0 else 1.0
    if s == 1.0:
        return image.copy(), s
    return cv2.resize(
        image, (round(w * s), round(h * s)), interpolation=interpolation), s


def fill_mask(image: np.ndarray,
              mask,
              color,
              alpha: float = MASK_ALPHA) -> None:
    """Blend ``color`` into ``image`` where ``mask`` is set, in place.

    Args:
        image (np.ndarray): ``[H, W, 3]`` image.
        mask (np.ndarray | dict): Bool ``[h, w]`` or COCO RLE; resized
            (nearest) to ``[H, W]``.
        color (Sequence[float]): The colour, as ``image``'s channels.
        alpha (float): Opacity of the colour. Defaults to 0.45.
    """
    if isinstance(mask, dict):
        mask = decode_mask(mask)
    mask = np.asarray(mask, bool)
    h, w = image.shape[:2]
    if mask.shape != (h, w):
        mask = cv2.resize(
            mask.astype(np.uint8), (w, h),
            interpolation=cv2.INTER_NEAREST).astype(bool)
    if mask.any():
        image[mask] = (image[mask] * (1 - alpha) +
                       np.asarray(color, np.float64) * alpha).astype(
                           image.dtype)
