"""draw_tracks: each person's box in its track colour where the box says
(pixels of the input frame, scaled with small frames), the input left
untouched."""
import numpy as np

from stmixer_mm.visualization import (box_at, draw_tracks, label_font_scale,
                                      track_color)


def test_box_in_track_colour_where_the_box_says():
    image = np.zeros((120, 160, 3), np.uint8)
    out = draw_tracks(
        image, [dict(bbox=[40, 30, 120, 100], track_id=3, actions={})],
        min_short_side=0)
    assert out.shape == image.shape and not image.any()
    color = np.array(track_color(3))
    assert (out[100, 60] == color).all()  # bottom edge of the box
    assert (out[60, 120] == color).all()  # right edge
    assert not out[60, 80].any()  # inside the box, below the label
    assert not out[5, 5].any()  # outside


def test_small_frames_are_scaled_and_untracked_persons_drawn():
    image = np.zeros((60, 80, 3), np.uint8)
    out = draw_tracks(
        image, [dict(bbox=[10, 10, 40, 50])],
        min_short_side=120,
        header='frame 7')
    assert out.shape == (120, 160, 3)
    assert (out[100, 40] == np.array(track_color(None))).all()
    assert track_color(0) != track_color(1)
    assert out[:8, :20].any()  # the header


def _label_columns(out, color):
    """Columns (x) where the label background of ``color`` is filled
    (rows of a filled label: more than a box line's worth of pixels)."""
    mask = (out == np.array(color)).all(axis=2)
    return np.nonzero(mask.sum(axis=0) > 6)[0]


def test_labels_stay_inside_the_frame_at_the_right_and_bottom_edges():
    """Before: a label started at the box's left edge whatever its width,
    so a box touching the right edge had its label cut off there."""
    image = np.zeros((200, 300, 3), np.uint8)
    long_name = 'answer phone (e.g., self, others)'
    person = dict(
        bbox=[280, 150, 299, 199], track_id=2, actions={long_name: 0.91})
    out = draw_tracks(image, [person], min_short_side=0)
    import cv2
    scale = label_font_scale(200)  # the smallest, 0.3
    (tw, _), _ = cv2.getTextSize(f'{long_name} 0.91', cv2.FONT_HERSHEY_SIMPLEX,
                                 scale, 1)
    cols = _label_columns(out, track_color(2))
    # the whole label is drawn: as wide as its text, ending at the frame
    assert cols.max() == 299 and cols.max() - cols.min() >= tw
    # the two lines (id, action) are inside the frame, above the bottom
    rows = np.nonzero((out[:,
                           int(cols.min()):int(cols.min()) + tw] == np.array(
                               track_color(2))).all(axis=2).any(axis=1))[0]
    assert rows.max() <= 199 and rows.min() < 150
    # a box away from the edges keeps its label at its top-left corner
    out = draw_tracks(
        image, [dict(bbox=[10, 10, 60, 60], track_id=2, actions={})],
        min_short_side=0)
    assert abs(_label_columns(out, track_color(2)).min() - 10) <= 1


def test_masks_filled_from_arrays_and_rle():
    from stmixer_mm.utils.coco_rle import encode_mask
    image = np.zeros((60, 80, 3), np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[20:40, 30:50] = True
    for m in (mask, encode_mask(mask)):
        out = draw_tracks(
            image, [dict(bbox=[0, 0, 5, 5], track_id=1, mask=m)],
            min_short_side=0)
        color = np.array(track_color(1))
        assert np.allclose(out[30, 40], color * 0.45, atol=2)  # blended
        assert not out[50, 70].any()
    # a mask of another size (the model's input) is resized to the frame
    small = mask[::2, ::2]
    out = draw_tracks(
        image, [dict(bbox=[0, 0, 5, 5], track_id=1, mask=small)],
        min_short_side=0)
    assert out[30, 40].any() and not out[50, 70].any()


def test_a_tubelet_is_drawn_with_the_box_of_the_frame():
    person = dict(
        bbox=[0, 0, 10, 10],
        track_id=1,
        actions={},
        tubelet=dict(
            frames=[0, 0, 2, 6],
            boxes=[[10, 20, 50, 80], [30, 20, 70, 80], [40, 20, 80, 80],
                   [80, 20, 120, 80]]))
    # repeated frame 0 averaged; linear between frames; held outside
    np.testing.assert_allclose(box_at(person, 0), [20, 20, 60, 80])
    np.testing.assert_allclose(box_at(person, 4), [60, 20, 100, 80])
    np.testing.assert_allclose(box_at(person, 9), [80, 20, 120, 80])
    np.testing.assert_allclose(
        box_at(dict(bbox=[1, 2, 3, 4]), 5), [1, 2, 3, 4])
    image = np.zeros((120, 160, 3), np.uint8)
    out = draw_tracks(image, [person], min_short_side=0, frame=4)
    color = np.array(track_color(1))
    assert (out[80, 80] == color).all()  # bottom edge of frame 4's box
    assert not out[80, 5].any()  # no box where the keyframe box is
    held = draw_tracks(image, [person], min_short_side=0)
    assert not held[80, 80].any()  # without a frame: its bbox only
