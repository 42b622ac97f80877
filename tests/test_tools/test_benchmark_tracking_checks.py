"""``tools/experiments/benchmark_tracking.py`` checks its input before any
work (issue 83): without the tracking extra (TrackEval, for HOTA / IDF1)
it stops at once with the ``pip install`` to run (it used to track first
and end in a traceback); a bad tracker setting or option is refused by
the command line, naming it."""
import os

import pytest

TOOL = 'experiments/benchmark_tracking.py'


def _args(tmp_path, *extra):
    return ('--predictions', str(tmp_path / 'preds.pkl'), '--gt',
            str(tmp_path / 'gt.pkl'), '--work-dir', str(tmp_path / 'work'),
            '--out', str(tmp_path / 'out.json'), *extra)


def test_without_the_tracking_extra_it_stops_before_any_work(
        tools, tmp_path, monkeypatch):
    """TrackEval hidden from the tool's process (``sys.modules`` entry
    None: ``find_spec`` finds nothing): exit 1, the one line to install it,
    no traceback, nothing read or written."""
    hide = tmp_path / 'hide'
    hide.mkdir()
    site = "import sys\nsys.modules['trackeval'] = None\n"
    (hide / 'sitecustomize.py').write_text(site)
    paths = [str(hide), os.environ.get('PYTHONPATH', '')]
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join(p for p in paths if p))
    proc = tools.python_tool(  # a new interpreter runs sitecustomize
        TOOL,
        '--trackers',
        'GreedyTracker',
        *_args(tmp_path),
        check=False,
        subprocess=True)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        'benchmark_tracking.py: error: tools/experiments/benchmark_tracking.py'
        ' needs trackeval, '
        'which is not installed: pip install "stmixer_mm[tracking]"')
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'work').exists()
    assert not (tmp_path / 'out.json').exists()


@pytest.mark.parametrize('extra, message', [
    (('--trackers', '[{"type": "ByteTracker", "init_track_thr": 1.5}]'),
     '--trackers: tracker 0: ByteTracker: init_track_thr must be a number '
     'in [0, 1], got 1.5'),
    (('--trackers', 'GreedyTracker', '--person-thr', 'high'),
     "--person-thr: expected comma-separated numbers in [0, 1], got 'high'"),
])
def test_bad_tracker_options_are_refused_by_the_command_line(
        tools, tmp_path, extra, message):
    """Each tracker is built (its settings checked) and the lists of
    numbers (``--person-thr``, ``--keyframe-strides``: one helper) parsed
    before any data is made or read."""
    proc = tools.python_tool(TOOL, *_args(tmp_path, *extra), check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].endswith(message)
    assert not (tmp_path / 'work').exists()
