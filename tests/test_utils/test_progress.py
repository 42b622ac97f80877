"""The one progress bar (stmixer_mm.utils.progress)."""
import io

from stmixer_mm.utils.progress import track_progress


def test_track_progress_yields_everything_and_counts():
    out = io.StringIO()
    assert list(track_progress([3, 1, 2], file=out)) == [3, 1, 2]
    text = out.getvalue()
    assert '3/3' in text and text.endswith('\n')


def test_track_progress_of_an_iterator_of_unknown_length():
    out = io.StringIO()
    assert list(track_progress(iter(range(4)), file=out)) == [0, 1, 2, 3]
    assert 'completed: 4' in out.getvalue()
    out = io.StringIO()
    assert list(track_progress(iter(range(2)), total=2, file=out)) == [0, 1]
    assert '2/2' in out.getvalue()
