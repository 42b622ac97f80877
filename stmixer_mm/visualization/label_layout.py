"""Where each box's label block goes on a frame: the first candidate that
overlaps nothing placed, else the least overlap (docs/en/useful_tools.md)."""
from typing import List, Sequence, Tuple

__all__ = ['label_font_scale', 'label_candidates', 'place_label_blocks']

#: OpenCV font scale per pixel of the frame's short side, and the smallest
MIN_FONT_SCALE = 0.3
FONT_SCALE_PER_PIXEL = 1 / 720

Block = Tuple[float, float, float, float]  # x1, y1, x2, y2


def label_font_scale(short_side: int) -> float:
    """OpenCV font scale of labels for a ``short_side``-pixel frame: 0.5 at
    360, 1.0 at 720, never below 0.3 (readable on a 120-pixel frame)."""
    return max(MIN_FONT_SCALE, short_side * FONT_SCALE_PER_PIXEL)


def _inside(x: float, y: float, size: Tuple[float, float],
            frame_size: Tuple[int, int]) -> Tuple[float, float]:
    """``(x, y)`` shifted so a block of ``size`` lies inside the frame."""
    (w, h), (fw, fh) = size, frame_size
    return max(0, min(x, fw - w)), max(0, min(y, fh - h))


def label_candidates(box: Sequence[float], size: Tuple[float, float],
                     frame_size: Tuple[int, int]) -> List[Tuple[float, float]]:
    """Candidate places of a box's label block.

    Args:
        box (Sequence[float]): ``x1, y1, x2, y2`` in pixels of the frame.
        size (tuple[float, float]): ``(width, height)`` of the block.
        frame_size (tuple[int, int]): ``(width, height)`` of the frame.

    Returns:
        list[tuple[float, float]]: Top-left corners ``(x, y)``, best
        first (above the box, inside its top, below it, inside its
        bottom, each left- then right-aligned; then left and right of
        it), shifted into the frame, without repeats.
    """
    x1, y1, x2, y2 = box
    w, h = size
    rows = (y1 - h, y1, y2, y2 - h)  # above, inside top, below, inside bottom
    raw = [(x, y) for y in rows for x in (x1, x2 - w)]
    raw += [(x1 - w, y1), (x2, y1)]  # left of the box, right of it
    out = []
    for x, y in raw:
        pos = _inside(x, y, size, frame_size)
        if pos not in out:
            out.append(pos)
    return out


def _overlap(a: Block, b: Block) -> float:
    """The area two blocks share."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def place_label_blocks(
    boxes: Sequence[Sequence[float]],
    sizes: Sequence[Tuple[float, float]],
    frame_size: Tuple[int, int],
    reserved: Sequence[Block] = ()
) -> List[Tuple[float, float]]:
    """The top-left corner ``(x, y)`` of each box's label block, in order.

    Args:
        boxes (Sequence[Sequence[float]]): ``[n, 4]`` ``x1, y1, x2, y2``
            in pixels of the frame.
        sizes (Sequence[tuple[float, float]]): ``(width, height)`` of each
            box's label block.
        frame_size (tuple[int, int]): ``(width, height)`` of the frame.
        reserved (Sequence[tuple]): ``(x1, y1, x2, y2)`` blocks no label
            should cover, e.g. the header. Defaults to ``()``.

    Returns:
        list[tuple[float, float]]: One corner per box: the first
        candidate (:func:`label_candidates`) that overlaps no block
        placed before (nor ``reserved``), else the least overlap.

    Raises:
        ValueError: ``boxes`` and ``sizes`` of different lengths.
    """
    if len(boxes) != len(sizes):
        raise ValueError(f'{len(boxes)} boxes but {len(sizes)} label sizes')
    taken = list(reserved)
    placed = []
    for box, (w, h) in zip(boxes, sizes):
        best, best_cost = None, None
        for x, y in label_candidates(box, (w, h), frame_size):
            cost = sum(_overlap((x, y, x + w, y + h), t) for t in taken)
            if best_cost is None or cost < best_cost:
                best, best_cost = (x, y), cost
            if cost == 0:
                break
        taken.append((best[0], best[1], best[0] + w, best[1] + h))
        placed.append(best)
    return placed
