"""place_label_blocks: each box's label block at the first candidate
position inside the frame that no block placed before covers (the least
covered one when none is free), deterministic; and draw_tracks drawing
the labels of persons close together on small frames apart."""
import cv2
import numpy as np
import pytest

from stmixer_mm.visualization import (draw_tracks, label_font_scale,
                                      place_label_blocks, track_color)
from stmixer_mm.visualization.label_layout import label_candidates


def _block(pos, size):
    return pos[0], pos[1], pos[0] + size[0], pos[1] + size[1]


def _overlaps(a, b):
    return min(a[2], b[2]) > max(a[0], b[0]) and \
        min(a[3], b[3]) > max(a[1], b[1])


def _inside(block, frame_size):
    return block[0] >= 0 and block[1] >= 0 and \
        block[2] <= frame_size[0] and block[3] <= frame_size[1]


def _crowd(rng, frame_size, n):
    """``n`` boxes close together near the frame's middle, each with a
    label of 2 to 4 lines (a track id and 1 to 3 actions)."""
    fw, fh = frame_size
    boxes, sizes = [], []
    for _ in range(n):
        x = rng.uniform(0.1, 0.6) * fw
        y = rng.uniform(0.2, 0.5) * fh
        boxes.append((x, y, x + rng.uniform(0.15, 0.3) * fw,
                      y + rng.uniform(0.3, 0.5) * fh))
        lines = int(rng.integers(2, 5))
        sizes.append(
            (float(rng.uniform(0.15, 0.35) * fw), lines * max(10.0, fh / 20)))
    return boxes, sizes


@pytest.mark.parametrize('frame_size', [(160, 120), (320, 240)])
def test_free_positions_are_taken_and_blocks_stay_inside(frame_size):
    """For 200 crowds of 3-4 persons: every block lies inside the frame,
    and a block overlaps no block placed before it whenever one of its
    candidate positions was free."""
    rng = np.random.default_rng(0)
    free_cases = 0
    for _ in range(200):
        boxes, sizes = _crowd(rng, frame_size, int(rng.integers(3, 5)))
        placed = place_label_blocks(boxes, sizes, frame_size)
        blocks = [_block(p, s) for p, s in zip(placed, sizes)]
        for i, (box, size) in enumerate(zip(boxes, sizes)):
            assert _inside(blocks[i], frame_size)
            assert placed[i] in label_candidates(box, size, frame_size)
            before = blocks[:i]
            free = [
                c for c in label_candidates(box, size, frame_size)
                if not any(_overlaps(_block(c, size), b) for b in before)
            ]
            if free:
                free_cases += 1
                assert placed[i] == free[0]  # the first free one
                assert not any(_overlaps(blocks[i], b) for b in before)
    assert free_cases > 500  # most blocks found a free place


def test_above_the_box_first_then_inside_then_below():
    size = (40, 20)
    # room above
    assert place_label_blocks([(50, 50, 100, 100)], [size],
                              (200, 200)) == [(50, 30)]
    # a box at the top: shifted into the frame (inside its top)
    assert place_label_blocks([(50, 5, 100, 100)], [size],
                              (200, 200)) == [(50, 0)]
    # a box at the right edge: the block ends at the frame's edge
    assert place_label_blocks([(180, 50, 199, 100)], [size],
                              (200, 200)) == [(160, 30)]
    # the place above taken by the first box's block: the second goes
    # inside the top of its box
    placed = place_label_blocks([(50, 50, 100, 100), (55, 52, 105, 110)],
                                [size, size], (200, 200))
    assert placed == [(50, 30), (55, 52)]


def test_reserved_areas_and_the_fallback():
    size = (40, 20)
    # a header over the top-left corner: the label goes inside its box
    placed = place_label_blocks([(0, 0, 60, 60)], [size], (200, 200),
                                reserved=[(0, 0, 80, 15)])
    assert placed == [
        (0, 15)
    ] or not _overlaps(_block(placed[0], size), (0, 0, 80, 15))
    # no free place anywhere (the whole frame reserved): the least covered
    # candidate, still inside the frame
    placed = place_label_blocks([(10, 10, 50, 50)], [size], (100, 100),
                                reserved=[(0, 0, 100, 100)])
    assert _inside(_block(placed[0], size), (100, 100))
    # a block larger than the frame: at its top-left corner
    assert place_label_blocks([(10, 10, 50, 50)], [(300, 300)],
                              (100, 100)) == [(0, 0)]
    with pytest.raises(ValueError, match='2 boxes but 1 label sizes'):
        place_label_blocks([(0, 0, 1, 1)] * 2, [size], (10, 10))


def test_same_input_same_output():
    rng = np.random.default_rng(1)
    boxes, sizes = _crowd(rng, (320, 240), 4)
    first = place_label_blocks(boxes, sizes, (320, 240))
    assert place_label_blocks(list(boxes), list(sizes), (320, 240)) == first
    assert place_label_blocks(
        np.array(boxes), [tuple(s) for s in sizes], (320, 240)) == first


def test_font_scale_follows_the_frame():
    assert label_font_scale(120) == 0.3  # small frames: small, readable
    assert label_font_scale(360) == pytest.approx(0.5)
    assert label_font_scale(720) == pytest.approx(1.0)


def _label_extent(image, color, box):
    """Bounding box ``x1, y1, x2, y2`` of the filled label of ``color``:
    its pixels off the outline of its ``box``."""
    mask = (image == np.array(color)).all(axis=2).astype(np.uint8)
    outline = np.zeros_like(mask)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(outline, (x1, y1), (x2, y2), 1, 5)
    ys, xs = np.nonzero(mask & (1 - outline))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize('frame_size,num_persons,min_short_side',
                         [((160, 120), 3, 0), ((320, 240), 4, 0),
                          ((160, 120), 4, 360)])
def test_labels_of_persons_close_together_are_drawn_apart(
        frame_size, num_persons, min_short_side):
    """Persons side by side on a small frame (as it is, or scaled up to a
    360-pixel short side as the demo draws it), each with 2-3 actions:
    every label is drawn in full (in its track colour), inside the frame
    and clear of the other labels and of the header."""
    fw, fh = frame_size
    k = fw / 160
    persons = [
        dict(
            bbox=[(20 + 30 * i) * k, (40 + 3 * i) * k, (60 + 30 * i) * k,
                  110 * k],
            track_id=i + 1,
            actions={
                'walk': 0.91,
                'talk': 0.55,
                'sit': 0.4
            } if i % 2 else {
                'stand': 0.8,
                'wave': 0.6
            }) for i in range(num_persons)
    ]
    out = draw_tracks(
        np.zeros((fh, fw, 3), np.uint8),
        persons,
        min_short_side=min_short_side,
        header='frame 7')
    s = out.shape[1] / fw
    extents = [
        _label_extent(out, track_color(p['track_id']),
                      np.array(p['bbox']) * s) for p in persons
    ]
    header = (0, 0, 10, 5)  # a corner of the header block
    for i, a in enumerate(extents):
        assert _inside(a, out.shape[1::-1])
        assert a[3] - a[1] >= 3 * 8  # 3 or 4 lines, none hidden
        assert not _overlaps(a, header)
        for b in extents[i + 1:]:
            assert not _overlaps(a, b), (a, b)
    # white on black: grey levels only (a wider corner: OpenCV 5's glyphs
    # are placed a few pixels from OpenCV 4's)
    corner = out[:12, :40].astype(int)
    assert (corner == corner[..., :1]).all() and corner.max() > 128
