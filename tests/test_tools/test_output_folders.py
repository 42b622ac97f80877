"""Output paths that cannot be written (issue 74): every tool that writes
an output folder or file refuses, before any work, one it cannot write (a
read-only folder, a path under a file, a folder where a file goes) with an
error line naming it; no traceback, nothing written (``read_only``:
tests/test_tools/conftest.py)."""
import os
import os.path as osp

import pytest

from stmixer_mm.testing import TINY_DATA, repo_path

VIDEO = repo_path(TINY_DATA, 'rawframes', 'syn_val_000')

# (tool, its arguments with OUT for the output, 'dir' or 'file'); the
# model checkpoints and inputs named need not exist: the output is checked
# before they are read
CASES = {
    'test_work_dir': ('test.py', ['{cfg}', 'none.pth', '--work-dir',
                                  '{out}'], 'dir'),
    'test_dump':
    ('test.py',
     ['{cfg}', 'none.pth', '--work-dir', '{tmp}/w', '--dump',
      '{out}'], 'file'),
    'test_show_dir':
    ('test.py',
     ['{cfg}', 'none.pth', '--work-dir', '{tmp}/w', '--show-dir',
      '{out}'], 'dir'),
    'train_work_dir': ('train.py', ['{cfg}', '--work-dir', '{out}'], 'dir'),
    'demo': ('demo.py',
             [VIDEO, '{cfg}', 'none.pth', '--fps', '8', '--out-dir',
              '{out}'], 'dir'),
    'import': ('data/import_annotations.py',
               ['csv', 'none.csv', '--videos', '{tmp}', '--out-dir',
                '{out}'], 'dir'),
    'synthetic_ava': ('data/generate_synthetic_ava.py', ['--out-dir',
                                                         '{out}'], 'dir'),
    'doctor_out_dir':
    ('analysis_tools/check_dataset.py', ['{cfg}', '--out-dir',
                                         '{out}'], 'dir'),
    'doctor_json': ('analysis_tools/check_dataset.py',
                    ['{cfg}', '--max-grid', '0', '--json', '{out}'], 'file'),
    'official_converter': ('model_converters/convert_official_checkpoint.py',
                           ['none.pth', '{out}'], 'file'),
    'videomae_converter': ('model_converters/convert_videomae_checkpoint.py',
                           ['none.pth', '{out}', '--config', '{cfg}'], 'file'),
    'sharded_to_full': ('model_converters/convert_sharded_checkpoint.py',
                        ['none', '{out}'], 'file'),
    'full_to_sharded': ('model_converters/convert_sharded_checkpoint.py',
                        ['none.pth', '{out}', '--to-sharded'], 'dir'),
    'export_onnx': ('deployment/export_onnx.py',
                    ['{cfg}', 'none.pth', '{out}', '--shape', '4', '64',
                     '64'], 'file'),
}
# scripts that are not stmixer_mm.apps.cli command lines run as subprocesses
# (slow): the read-only case only
SCRIPT_CASES = {
    'print_config': ('misc/print_config.py', ['{cfg}', '--save-path',
                                              '{out}'], 'file:out.py'),
    'browse_dataset':
    ('analysis_tools/browse_dataset.py', ['{cfg}', '--output-dir',
                                          '{out}'], 'dir'),
    'visualize_results':
    ('analysis_tools/visualize_results.py', ['{cfg}', '--out-dir',
                                             '{out}'], 'dir'),
    'analyze_logs': ('analysis_tools/analyze_logs.py',
                     ['plot_curve', 'none.json', '--out', '{out}'], 'file'),
}


def _bad_paths(tmp_path, read_only, kind):
    """``{case: (path given, what the message says)}``; ``kind``: ``'dir'``
    or ``'file[:name]'``."""
    a_file = tmp_path / 'a_file'
    a_file.write_text('not a folder')
    kind, _, name = kind.partition(':')
    name = name or ('out.pkl' if kind == 'file' else 'out')
    bad = {
        'read_only': (read_only / name, 'cannot'),
        'under_read_only': (read_only / 'new' / name, 'cannot create the '
                            'output folder in'),
        'under_a_file': (a_file / name, 'is a file'),
    }
    if kind == 'file':
        folder = tmp_path / f'folder_{name}'
        folder.mkdir()
        bad['a_folder'] = (folder, 'is a folder; expected the path of a '
                           'file')
    else:
        bad['a_file'] = (a_file, 'is a file')
    return bad


def _check_refused(tools, tmp_path, read_only, case, only=None):
    tool, argv, kind = case
    for why, (out, says) in _bad_paths(tmp_path, read_only, kind).items():
        if only is not None and why != only:
            continue
        before = sorted(os.listdir(tmp_path))
        args = [
            a.format(cfg=tools.TINY_CFG, out=out, tmp=tmp_path) for a in argv
        ]
        proc = tools.python_tool(tool, *args, check=False)
        err = proc.stderr
        assert proc.returncode != 0, (why, proc.stdout[-2000:])
        assert 'Traceback' not in err, (why, err[-3000:])
        line = [x for x in err.splitlines() if str(out) in x and says in x]
        assert line, (why, err[-3000:])
        assert 'Loads checkpoint' not in proc.stdout + err  # before the work
        assert not os.listdir(read_only) and sorted(
            os.listdir(tmp_path)) == before, why


@pytest.mark.parametrize('name', sorted(CASES))
def test_an_output_that_cannot_be_written_is_refused_first(
        tools, tmp_path, read_only, name):
    _check_refused(tools, tmp_path, read_only, CASES[name])


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(SCRIPT_CASES))
def test_analysis_tools_refuse_an_output_they_cannot_write(
        tools, tmp_path, read_only, name):
    _check_refused(
        tools, tmp_path, read_only, SCRIPT_CASES[name], only='read_only')


def test_the_probe_is_a_real_write(tmp_path, monkeypatch):
    """``os.access`` says yes to root on a read-only folder: the check
    creates a file, whatever ``os.access`` says, and leaves nothing."""
    from stmixer_mm.apis.output_files import check_writable_dir
    monkeypatch.setattr(os, 'access', lambda *a, **k: False)
    check_writable_dir(str(tmp_path))  # writable: passes
    check_writable_dir(str(tmp_path / 'new' / 'deeper'))  # to be made
    assert not os.listdir(tmp_path)
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise PermissionError(13, 'Permission denied')

    monkeypatch.setattr(os, 'access', lambda *a, **k: True)
    monkeypatch.setattr(os, 'open', refuse)  # as a read-only folder does
    monkeypatch.setattr(os, 'mkdir', refuse)
    with pytest.raises(
            OSError,
            match='cannot write in the output '
            'folder .Permission denied.'):
        check_writable_dir(str(tmp_path))
    with pytest.raises(
            OSError,
            match='cannot create the output '
            f'folder in {tmp_path} .Permission denied'):
        check_writable_dir(osp.join(str(tmp_path), 'new'))
