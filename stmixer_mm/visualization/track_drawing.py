"""Fast OpenCV drawing of tracked persons on video frames (the demo's)."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from stmixer_mm.evaluation.functional.tubelet_boxes import interpolate_boxes
from .canvas import fill_mask, scale_up
from .label_layout import label_font_scale, place_label_blocks
from .person_fields import PERSON_FIELDS

__all__ = ['draw_tracks', 'track_color']

_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
            (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
            (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


def track_color(track_id: Optional[int]):
    """A fixed RGB colour per track id."""
    if track_id is None or track_id < 0:
        return (230, 20, 20)
    return _PALETTE[track_id % len(_PALETTE)]


FONT = cv2.FONT_HERSHEY_SIMPLEX


def person_label(track_id) -> str:
    """The label of a drawn person: ``T<track_id>``, or ``person`` when
    ``track_id`` is None (the browser demo's timeline uses it too)."""
    return 'person' if track_id is None else f'T{track_id}'


def _person_lines(person: dict) -> List[str]:
    """:func:`person_label`, then a line per action with its score."""
    return [person_label(person.get('track_id'))
            ] + [f'{n} {v:.2f}' for n, v in person.get('actions', {}).items()]


def _line_sizes(lines: Sequence[str], scale: float,
                thick: int) -> List[Tuple[int, int, int]]:
    """``(width, height, text height)`` of each line on its background."""
    out = []
    for line in lines:
        (tw, th), base = cv2.getTextSize(line, FONT, scale, thick)
        out.append((tw + 4, th + base + 2, th))
    return out


def _draw_label(image: np.ndarray, lines: Sequence[str], sizes, pos, color,
                scale: float, thick: int) -> None:
    """Draw ``lines`` down from ``pos``, each on a ``color`` background."""
    x0, y = int(round(pos[0])), int(round(pos[1]))
    for line, (w, h, th) in zip(lines, sizes):
        cv2.rectangle(image, (x0, y), (x0 + w - 1, y + h - 1), color, -1)
        cv2.putText(image, line, (x0 + 2, y + th + 1), FONT, scale, (0, 0, 0),
                    thick, cv2.LINE_AA)
        y += h


def _draw_header(image: np.ndarray, header: str, scale: float,
                 thick: int) -> Tuple[int, int, int, int]:
    """Draw ``header`` top-left; returns the block it covers (xyxy)."""
    (tw, th), base = cv2.getTextSize(header, FONT, scale, thick)
    cv2.rectangle(image, (0, 0), (tw + 5, th + base + 3), (0, 0, 0), -1)
    cv2.putText(image, header, (3, th + 2), FONT, scale, (255, 255, 255),
                thick, cv2.LINE_AA)
    return 0, 0, tw + 6, th + base + 4


def draw_tracks(image: np.ndarray,
                persons: Sequence[dict],
                min_short_side: int = 360,
                header: Optional[str] = None,
                frame: Optional[int] = None) -> np.ndarray:
    """Draw persons with OpenCV (the demos' and the Inferencer's drawing).
    See docs/en/useful_tools.md.

    Args:
        image (np.ndarray): RGB uint8 frame ``[H, W, 3]``.
        persons (Sequence[dict]): Each with ``bbox`` (xyxy pixels of
            ``image``) and optional ``track_id``, ``actions`` ``{name:
            score}``, ``mask`` (bool ``[H, W]`` or COCO RLE, filled
            translucent), ``tubelet`` (``frames``, ``boxes``) and the
            fields of ``PERSON_FIELDS`` (each drawn by its field).
        min_short_side (int): Scale the frame up to this short side (0:
            never). Defaults to 360.
        header (str, optional): Text drawn top-left (labels avoid it).
            Defaults to None.
        frame (int, optional): The frame's index: a person's box is its
            tubelet's at that frame (:func:`box_at`). Defaults to None.

    Returns:
        np.ndarray: A new RGB uint8 image, scaled up where smaller.
    """
    out, s = scale_up(image, min_short_side)
    short = min(out.shape[:2])
    scale = label_font_scale(short)
    thick = max(1, int(round(short / 300)))
    colors = [track_color(p.get('track_id')) for p in persons]
    for p, color in zip(persons, colors):
        if p.get('mask') is not None:
            fill_mask(out, p['mask'], color)
    boxes = []
    for p, color in zip(persons, colors):
        box = p['bbox'] if frame is None else box_at(p, frame)
        x1, y1, x2, y2 = (
            int(v) for v in (np.asarray(box, np.float64) * s).round())
        boxes.append((x1, y1, x2, y2))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick + 1)
    # the header first, so that the labels avoid it
    reserved = [_draw_header(out, header, scale, thick)] if header else []
    labels = [_person_lines(p) for p in persons]
    sizes = [_line_sizes(lines, scale, thick) for lines in labels]
    blocks = [(max(w for w, _, _ in ls), sum(h for _, h, _ in ls))
              for ls in sizes]
    positions = place_label_blocks(boxes, blocks, out.shape[1::-1], reserved)
    for color, lines, ls, pos in zip(colors, labels, sizes, positions):
        _draw_label(out, lines, ls, pos, color, scale, thick)
    for p, color in zip(persons, colors):
        for name, field in PERSON_FIELDS.items():
            if p.get(name) is not None:
                field.draw(out, p[name], s, color, scale, thick)
    return out


def box_at(person: dict, frame: int) -> np.ndarray:
    """A person's box at a frame.

    Args:
        person (dict): ``bbox`` and optional ``tubelet`` (``frames``
            ascending, ``boxes`` one per frame).
        frame (int): The frame.

    Returns:
        np.ndarray: float64 ``x1, y1, x2, y2``, shape (4, ): from the
        tubelet (repeated frames averaged, linear between frames, the
        first / last box outside them), else ``bbox``.
    """
    tubelet = person.get('tubelet')
    if tubelet is None:
        return np.asarray(person['bbox'], np.float64)
    boxes = np.asarray(tubelet['boxes'], np.float64).reshape(1, -1, 4)
    return interpolate_boxes(boxes, tubelet['frames'], [frame])[0, 0]
