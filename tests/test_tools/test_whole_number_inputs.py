"""Whole numbers read from text are ASCII digits (docs/en/bad_inputs.md):
``str.isdigit`` also takes ``'²'`` (and ``int`` then fails with a traceback
that names nothing), ``int`` takes ``'٣'`` (3). The environment variable
``STMIXER_MAX_FRAME_PIXELS`` through ``tools/data/import_annotations.py``,
a webcam index given as text, and the pid in a staging folder's name."""
import os
import socket

import pytest

from stmixer_mm.apis.video_io import (VideoReadError, is_live_spec,
                                      open_source, source_name)
from stmixer_mm.apis.video_io.decoding import (MAX_FRAME_PIXELS_ENV,
                                               MAX_FRAME_PIXELS_ENV_LIMIT,
                                               frame_pixel_bound)
from stmixer_mm.apis.video_io.sources import webcam_index
from stmixer_mm.apps.cli import import_annotations as tool
from stmixer_mm.apps.command_errors import command_error, whole_number
from stmixer_mm.apps.data_gen.exports import generate_annotation_exports
from stmixer_mm.apps.output_files import clear_stale_staging

FPS = 8
EXPECTED = ('expected an int >= 1 (the most pixels, width x height, of a '
            'frame), in ASCII digits')


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
    return generate_annotation_exports(
        str(tmp_path_factory.mktemp('exports') / 'ex'),
        num_videos=2,
        seconds=2,
        fps=FPS,
        width=64,
        height=64)


def _import(exports, out):
    return tool.main([
        'csv', exports['csv'], '--videos', exports['videos'], '--out-dir',
        str(out), '--fps',
        str(FPS), '--val-videos', 'syn_train_001'
    ])


@pytest.mark.parametrize('value, message', [
    ('²', EXPECTED),
    ('٣', EXPECTED),
    ('0', EXPECTED),
    ('-5', EXPECTED),
    ('1e6', EXPECTED),
    ('1_000', EXPECTED),
    ('+100', EXPECTED),
    (str(MAX_FRAME_PIXELS_ENV_LIMIT + 1),
     f'too large (at most {MAX_FRAME_PIXELS_ENV_LIMIT}); expected an int'),
])
def test_the_import_tool_names_a_bad_variable_before_any_work(
        exports, tmp_path, capsys, monkeypatch, value, message):
    """Before: ``STMIXER_MAX_FRAME_PIXELS=²`` passed ``isdigit`` and then
    ``int`` raised a ValueError traceback not naming the variable. After:
    exit 1, the message names the variable, its value and what is
    expected; nothing written."""
    monkeypatch.setenv(MAX_FRAME_PIXELS_ENV, value)
    out = tmp_path / 'set'
    assert _import(exports, out) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(
        command_error(f'{MAX_FRAME_PIXELS_ENV}={value!r}: {message}')), err
    assert not out.exists()


def test_a_huge_value_is_too_large_not_a_traceback(monkeypatch):
    """5,000 digits: ``int`` would refuse it (more digits than Python
    converts); it is too large, shown cut."""
    monkeypatch.setenv(MAX_FRAME_PIXELS_ENV, '9' * 5000)
    with pytest.raises(ValueError) as e:
        frame_pixel_bound()
    assert str(e.value).startswith(
        f"{MAX_FRAME_PIXELS_ENV}='{'9' * 40}...': too large (at most ")
    for value, bound in [('1000', 1000), (' 0042 ', 42),
                         (str(MAX_FRAME_PIXELS_ENV_LIMIT),
                          MAX_FRAME_PIXELS_ENV_LIMIT)]:
        monkeypatch.setenv(MAX_FRAME_PIXELS_ENV, value)
        assert frame_pixel_bound() == bound


@pytest.mark.parametrize('spec', ['²', '٣', '1²', '9' * 30])
def test_a_webcam_index_is_ascii_digits(spec):
    """Before: ``'²'`` was taken for a webcam index and ``int('²')``
    raised a ValueError naming nothing. After: it is a path, refused as
    missing, named."""
    assert webcam_index(spec) is None and not is_live_spec(spec)
    assert source_name(spec) == spec
    with pytest.raises(
            VideoReadError, match=f'^{spec}: no such video file or folder$'):
        open_source(spec)


def test_webcam_indices():
    assert [webcam_index(s) for s in ('0', '3', '12', 2)] == [0, 3, 12, 2]
    assert webcam_index(True) is None and webcam_index('rtsp://x') is None
    assert source_name('0') == 'webcam0' and is_live_spec('1')


def test_a_staging_folder_whose_pid_is_no_process_id_is_left_named(tmp_path):
    """Before: ``.staging-²@host-...`` ended the import with a ValueError
    traceback; ``.staging-0@host-...`` was "run by pid 0" forever. After:
    each is named and left in place as a folder of an unknown run."""
    host = socket.gethostname()
    names = [f'.staging-{pid}@{host}-abcd1234' for pid in ('²', '0', '٣')]
    for name in names:
        (tmp_path / name).mkdir()
    logged = []
    clear_stale_staging(str(tmp_path), logged.append)
    assert len(logged) == len(names)
    for name in names:
        line = [
            m for m in logged if m.startswith(
                f'warning: {tmp_path / name} is the staging folder of another '
                'run; its run is unknown')
        ]
        assert line, logged
        assert (tmp_path / name).is_dir()
    assert sorted(os.listdir(tmp_path)) == sorted(names)


def test_the_import_tool_names_a_lock_path_that_is_a_folder(
        exports, tmp_path, capsys):
    """A folder at ``--out-dir``'s lock path is not another run writing
    there: the message says what it is, and the folder is left alone."""
    out = tmp_path / 'out'
    (out / '.stmixer_run.lock').mkdir(parents=True)
    assert _import(exports, out) == 1
    err = capsys.readouterr().err
    assert f'--out-dir {out}: ' in err and 'is a folder' in err
    assert 'being written by another run' not in err
    assert (out / '.stmixer_run.lock').is_dir()


@pytest.mark.parametrize('command', ['demo', 'web'])
def test_the_video_commands_name_a_bad_variable_before_any_work(
        command, monkeypatch, tmp_path):
    """Before: ``stmixer-demo`` with ``STMIXER_MAX_FRAME_PIXELS=²`` ended
    in a traceback once the video was opened (after the model was built).
    After: the demo and the browser demo read the variable first and stop
    with their error line."""
    from stmixer_mm.apps.cli import demo, web
    monkeypatch.setenv(MAX_FRAME_PIXELS_ENV, '²')
    argv = {
        'demo':
        ['v.mp4', 'cfg.py', 'ckpt.pth', '--out-dir',
         str(tmp_path / 'o')],
        'web': ['--port', '0', '--work-dir',
                str(tmp_path / 'w')]
    }[command]
    with pytest.raises(SystemExit) as e:
        {'demo': demo, 'web': web}[command].main(argv, prog='stmixer-x')
    assert str(e.value) == (
        f"stmixer-x: error: {MAX_FRAME_PIXELS_ENV}='²': expected an int >= 1 "
        '(the most pixels, width x height, of a frame), in ASCII digits')
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('text', ['٣', '²', '1_000', '+5', '2.0', '1e3', '0'])
def test_every_whole_number_option_is_read_alike(text):
    """The command lines' whole-number options go through one parser
    (``utils.command_errors.whole_number``): before, ``positive_int`` of
    the tools (and the demo's own) took ``'٣'`` and ``'1_000'`` (``int``
    reads them), the benchmark tools' and the browser demo's did not."""
    import argparse

    from stmixer_mm.apps.benchmarks.common import OPTIONS
    from stmixer_mm.apps.cli.demo import parse_args
    from stmixer_mm.apps.cli.web import name_length
    for parse in (whole_number, OPTIONS['batch_size']['type'], name_length):
        with pytest.raises(argparse.ArgumentTypeError) as e:
            parse(text)
        assert str(e.value) == f'expected a whole number >= 1, got {text!r}'
    assert whole_number(' 12 ') == 12 == OPTIONS['batch']['type']('012')
    with pytest.raises(SystemExit):  # the demo's counts too
        parse_args(['v.mp4', 'cfg.py', 'ck.pth', '--topk', text])
