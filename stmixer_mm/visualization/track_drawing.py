"""Fast OpenCV drawing of tracked persons on video frames (the online
demo's output video and ``--show`` window)."""
from typing import Optional, Sequence

import cv2
import numpy as np

from stmixer_mm.utils.mask_rle import decode_mask
from stmixer_mm.utils.tubelet_boxes import interpolate_boxes

__all__ = ['draw_tracks', 'track_color', 'fill_mask']

#: opacity of a person's mask colour
MASK_ALPHA = 0.45

_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
            (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
            (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


def track_color(track_id: Optional[int]):
    """A fixed RGB colour per track id."""
    if track_id is None or track_id < 0:
        return (230, 20, 20)
    return _PALETTE[track_id % len(_PALETTE)]


def draw_tracks(image: np.ndarray,
                persons: Sequence[dict],
                min_short_side: int = 360,
                header: Optional[str] = None,
                frame: Optional[int] = None) -> np.ndarray:
    """Draw persons (``bbox`` in pixels of ``image``, optional
    ``track_id``, ``actions`` ``{name: score}``, ``mask``: a bool array or a
    COCO RLE dict of ``image``'s size, filled translucent in the person's
    colour) on an RGB frame with OpenCV; small frames are scaled up to
    ``min_short_side``. The online
    and the offline demo and :class:`~stmixer_mm.apis.STMixerInferencer`
    draw with it. Each person's label (``T<id>`` or ``person``, then one
    line per action) starts at the box's top-left corner and is kept
    inside the frame: shifted left where it would pass the right edge,
    up where it would pass the bottom. With ``frame``, a person with a
    ``tubelet`` (a tubelet model's ``frames`` and ``boxes``) is drawn with
    its box at that frame (:func:`box_at`).

    Returns:
        np.ndarray: a new RGB uint8 image.
    """
    h, w = image.shape[:2]
    s = max(1.0, min_short_side / min(h, w)) if min_short_side else 1.0
    out = cv2.resize(image, (round(w * s), round(h * s)),
                     interpolation=cv2.INTER_LINEAR) if s != 1.0 else \
        image.copy()
    short = min(out.shape[:2])
    scale = max(0.4, short / 720)
    thick = max(1, int(round(short / 300)))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for p in persons:
        if p.get('mask') is not None:
            fill_mask(out, p['mask'], track_color(p.get('track_id')))
    for p in persons:
        box = p['bbox'] if frame is None else box_at(p, frame)
        x1, y1, x2, y2 = (np.asarray(box, np.float64) * s).round()
        x1, y1, x2, y2 = int(x1), int(y1), int(x2), int(y2)
        tid = p.get('track_id')
        color = track_color(tid)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick + 1)
        lines = [f'T{tid}' if tid is not None else 'person'
                 ] + [f'{n} {v:.2f}' for n, v in p.get('actions', {}).items()]
        oh, ow = out.shape[:2]
        y = min(max(y1, 0), oh - 1)
        for line in lines:
            (tw, th), base = cv2.getTextSize(line, font, scale, thick)
            # the label stays inside the frame: moved left of a box at the
            # right edge, up from the bottom edge
            x0 = int(min(max(x1, 0), max(ow - tw - 4, 0)))
            y0 = int(min(y, max(oh - th - base - 2, 0)))
            cv2.rectangle(out, (x0, y0), (x0 + tw + 4, y0 + th + base + 2),
                          color, -1)
            cv2.putText(out, line, (x0 + 2, y0 + th + 1), font, scale,
                        (0, 0, 0), thick, cv2.LINE_AA)
            y = y0 + th + base + 2
    if header:
        (tw, th), base = cv2.getTextSize(header, font, scale, thick)
        cv2.rectangle(out, (0, 0), (tw + 6, th + base + 4), (0, 0, 0), -1)
        cv2.putText(out, header, (3, th + 2), font, scale, (255, 255, 255),
                    thick, cv2.LINE_AA)
    return out


def fill_mask(image: np.ndarray,
              mask,
              color,
              alpha: float = MASK_ALPHA) -> None:
    """Blend ``color`` into ``image`` (in place) where ``mask`` (a bool
    array, or a COCO RLE dict, of any size: resized nearest to the
    image's) is set."""
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


def box_at(person: dict, frame: int) -> np.ndarray:
    """A person's box at ``frame``: from its ``tubelet`` (``frames``
    ascending, ``boxes`` one per frame; repeated frames averaged, linear
    between frames, the first / last box outside them), else its
    ``bbox``."""
    tubelet = person.get('tubelet')
    if tubelet is None:
        return np.asarray(person['bbox'], np.float64)
    boxes = np.asarray(tubelet['boxes'], np.float64).reshape(1, -1, 4)
    return interpolate_boxes(boxes, tubelet['frames'], [frame])[0, 0]
