"""``tools/data/import_annotations.py``: one import per ``--out-dir`` at a
time, and the frame-size bound of its videos (issue 83).

Two imports into one ``--out-dir`` at the same time both exited 0, one
having overwritten the other; now the import holds the folder's run lock
(``WorkDirLock``, as training holds its work dir) from its first check to
its last write, and a second one is refused naming the folder and the run
holding it. A video of frames larger than ``--max-frame-pixels`` is refused
before decoding, nothing written."""
import os

import pytest

from stmixer_mm.apps.cli import import_annotations as tool
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.data_gen.exports import generate_annotation_exports
from stmixer_mm.apps.output_files import RUN_LOCK
from stmixer_mm.apps.work_dir_lock import LOCK_NAME, WorkDirLock

FPS = 8


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
    return generate_annotation_exports(
        str(tmp_path_factory.mktemp('exports') / 'ex'),
        num_videos=2,
        seconds=2,
        fps=FPS,
        width=64,
        height=64)


def _import(exports, out, *extra):
    return tool.main([
        'csv', exports['csv'], '--videos', exports['videos'], '--out-dir',
        str(out), '--fps',
        str(FPS), '--val-videos', 'syn_train_001', *extra
    ])


def test_the_lock_file_is_no_output():
    assert RUN_LOCK == LOCK_NAME  # check_output_dir ignores that file


def test_a_second_import_into_a_busy_out_dir_is_refused(
        exports, tmp_path, capsys):
    out = tmp_path / 'set'
    other = WorkDirLock(str(out)).acquire()  # a live run (this process)
    try:
        for extra in ([], ['--overwrite']):
            assert _import(exports, out, *extra) == 1
            err = capsys.readouterr().err.strip().splitlines()[-1]
            assert err.startswith(
                command_error(f'--out-dir {out} is being written by another '
                              'run ') + f'(pid {os.getpid()} on '), err
            assert 'choose another --out-dir' in err
            assert os.listdir(out) == [LOCK_NAME]  # nothing written
    finally:
        other.release()
    assert _import(exports, out) == 0, capsys.readouterr().err
    assert (out / 'config.py').is_file()
    assert not (out / LOCK_NAME).exists()  # released


def test_a_failed_import_leaves_no_folder_and_no_lock(exports, tmp_path,
                                                      capsys):
    out = tmp_path / 'set'
    assert _import(exports, out, '--max-frame-pixels', '1000') == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    video = os.path.join(exports['videos'], 'syn_train_000.mp4')
    assert err.startswith(
        command_error(f'{video}: its header states a frame size of 64x64 '
                      'pixels (WxH, 4,096), more than the 1,000 pixels a '
                      'frame may have')), err
    assert 'refused before decoding it' in err
    assert not out.exists()  # neither the folder nor its lock


def test_max_frame_pixels_is_checked_while_parsing(exports, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        _import(exports, tmp_path / 'set', '--max-frame-pixels', '0')
    assert e.value.code == 2
    assert 'argument --max-frame-pixels: expected a whole number >= 1, got ' \
        in capsys.readouterr().err
    assert not (tmp_path / 'set').exists()
