"""draw_tracks: each person's box in its track colour where the box says
(pixels of the input frame, scaled with small frames), the input left
untouched."""
import numpy as np

from stmixer_mm.visualization import draw_tracks, track_color


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
