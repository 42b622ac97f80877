"""tools/analysis_tools/check_dataset.py end to end: a clean copy of the tiny
AVA fixture exits 0 with the histogram and a grid; a broken copy exits 1
with ERROR lines naming the file and line; warnings only exit 0; a second
run never overwrites the first grid; --json is machine-readable."""
import json
import os
import os.path as osp
import shutil

import pytest

TOOL = 'analysis_tools/check_dataset.py'


@pytest.fixture
def data(tmp_path, tools):
    root = tmp_path / 'tiny_ava'
    shutil.copytree(tools.TINY_DATA, root)
    ann = root / 'annotations'
    opts = []
    for split, key in (('train', 'train_dataloader'), ('val',
                                                       'val_dataloader')):
        pre = f'{key}.dataset.'
        opts += [
            f'{pre}ann_file={ann / (split + ".csv")}',
            f'{pre}exclude_file={ann / (split + "_excluded_timestamps.csv")}',
            f'{pre}label_file={ann / "label_map.pbtxt"}',
            f'{pre}data_prefix.img={root / "rawframes"}',
        ]
    opts += [
        f'val_evaluator.ann_file={ann / "val.csv"}',
        f'val_evaluator.label_file={ann / "label_map.pbtxt"}',
        f'val_evaluator.exclude_file={ann / "val_excluded_timestamps.csv"}',
    ]
    return root, opts


def _run(tools, opts, *args):
    return tools.python_tool(
        TOOL, tools.TINY_CFG, *args, '--cfg-options', *opts, check=False)


def test_clean_set_exits_0_with_grid_never_overwritten(tools, data, tmp_path):
    _, opts = data
    out = tmp_path / 'out'
    report = tmp_path / 'report.json'
    proc = _run(tools, opts, '--out-dir', str(out), '--json', str(report))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert not [
        x
        for x in proc.stdout.splitlines() if x.startswith(('ERROR', 'WARNING'))
    ]
    assert 'summary: 0 error(s), 0 warning(s)' in proc.stdout
    assert 'crouch' in proc.stdout  # the histogram
    assert sorted(
        p.name for p in out.iterdir()) == ['grid_train.jpg', 'grid_val.jpg']
    first = (out / 'grid_train.jpg').stat()
    data_json = json.loads(report.read_text())
    assert data_json['errors'] == 0 and data_json['findings'] == []
    assert data_json['histograms']['val']['1'] == 8
    # again: new names, the first grids untouched; --json refuses to
    # overwrite its file
    proc = _run(tools, opts, '--out-dir', str(out), '--split', 'val',
                '--max-grid', '2')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / 'grid_val_1.jpg').exists()
    assert (out / 'grid_train.jpg').stat().st_mtime == first.st_mtime
    assert f'keyframe grid: {osp.join(str(out), "grid_val_1.jpg")}' \
        in proc.stdout
    proc = _run(tools, opts, '--max-grid', '0', '--json', str(report))
    assert proc.returncode != 0 and 'report.json' in proc.stderr
    assert json.loads(report.read_text()) == data_json


def test_broken_set_exits_1_naming_file_and_line(tools, data, tmp_path):
    root, opts = data
    ann = root / 'annotations' / 'val.csv'
    lines = ann.read_text().splitlines()
    row = lines[1].split(',')
    lines[1] = ','.join(row[:2] + ['40', '30', '70', '60'] + row[6:])
    ann.write_text('\n'.join(lines) + '\n')
    report = tmp_path / 'report.json'
    proc = _run(tools, opts, '--max-grid', '0', '--json', str(report))
    assert proc.returncode == 1, proc.stderr[-3000:]
    errors = [x for x in proc.stdout.splitlines() if x.startswith('ERROR')]
    assert len(errors) == 1, proc.stdout
    assert f'{ann}, line 2' in errors[0]
    assert 'pixel coordinates' in errors[0]
    found = json.loads(report.read_text())['findings']
    assert [(f['level'], f['file'], f['line'], f['video'], f['frame'])
            for f in found] == [('ERROR', str(ann), 2, row[0], int(row[1]))]


def test_warnings_only_exit_0(tools, data):
    _, opts = data
    proc = _run(tools, opts + ['train_dataloader.dataset.fps=2'], '--split',
                'train', '--max-grid', '0')
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [x for x in proc.stdout.splitlines() if x.startswith('WARNING')]
    assert any('fps' in w and 'holds 24 frames' in w for w in warnings)
    assert 'summary: 0 error(s)' in proc.stdout
    assert 'keyframe grid' not in proc.stdout  # --max-grid 0


def test_class_without_training_rows_is_in_the_summary(tools, data):
    """A class without training rows is listed again under the summary
    line, the last lines printed, not only among the findings."""
    root, opts = data
    ann = root / 'annotations' / 'train.csv'
    ann.write_text(''.join(r + '\n' for r in ann.read_text().splitlines()
                           if r.split(',')[6] != '2'))
    proc = _run(tools, opts, '--split', 'train', '--max-grid', '0')
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.rstrip().splitlines()
    assert lines[-2].startswith('summary: 0 error(s), 1 warning(s)')
    assert lines[-1] == ("  WARNING: 1 class(es) without training samples, "
                         "never learned (AP 0): 2 'crouch'")


def test_custom_classes_of_names_named_as_the_pre_run_check(tools, data):
    """Issue 74: custom_classes of class names crashed the doctor with a
    TypeError while tools/train.py's pre-run check named them; the doctor
    now reports that check's error first, exit 1."""
    _, opts = data
    opts += ['model.roi_head.stage_head.num_actions=2']
    for key in ('train_dataloader.dataset', 'val_dataloader.dataset',
                'test_dataloader.dataset', 'val_evaluator', 'test_evaluator'):
        opts += [f'{key}.custom_classes=[walk,stand]', f'{key}.num_classes=3']
    proc = _run(tools, opts, '--split', 'train', '--max-grid', '0')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    errors = [x for x in proc.stdout.splitlines() if x.startswith('ERROR')]
    assert errors[0] == (
        "ERROR config: train_dataloader.dataset: ValueError: custom_classes "
        "['walk', 'stand']: expected label ids of the label map (ints, not "
        'class names), each once (the part refused its settings when '
        'built)'), proc.stdout


def test_an_unwritable_out_dir_is_named_not_the_data_set(
        tools, data, tmp_path, read_only):
    """Issue 74: a read-only --out-dir made a valid set "cannot load a
    sample" (exit 1) and, failing half-way, left the --json claim empty,
    which the next run refused as "the claim of a run still going"; now the
    outputs are checked before the checks (exit 2, an error naming the
    folder), no claim is left, and the run with a good --out-dir passes."""
    _, opts = data
    report = tmp_path / 'report.json'
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    for out, says in ((read_only, 'cannot write in the output folder'),
                      (read_only / 'grids', 'cannot create the output folder'),
                      (a_file / 'grids', 'is a file')):
        proc = _run(tools, opts, '--out-dir', str(out), '--json', str(report))
        assert proc.returncode == 1, proc.stdout[-2000:]
        assert 'cannot load a sample' not in proc.stdout
        assert f'check_dataset.py: error: {out}: ' in proc.stderr and \
            says in proc.stderr, \
            proc.stderr[-2000:]
        assert 'Traceback' not in proc.stderr
        assert not report.exists() and not os.listdir(read_only)
    proc = _run(tools, opts, '--out-dir', str(tmp_path / 'grids'), '--json',
                str(report))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(report.read_text())['errors'] == 0


def test_a_run_that_fails_or_is_stopped_leaves_no_claim(
        tools, data, tmp_path, monkeypatch):
    """Issue 74: an exception or SIGTERM during the checks removes the empty
    --json claim (SIGTERM: exit 143 and an error line), so the next run
    with the same --json writes it."""
    import signal

    from stmixer_mm.apps.cli import check_dataset
    _, opts = data
    reports = tmp_path / 'reports'
    reports.mkdir()
    report = reports / 'report.json'

    def not_handled(signum, frame):  # the test's, were the doctor's missing
        raise AssertionError('SIGTERM was not handled by the doctor')

    def fails(*args, **kwargs):
        assert report.exists()  # claimed before the checks
        raise RuntimeError('the checks failed half-way')

    def stopped(*args, **kwargs):
        assert report.exists()
        os.kill(os.getpid(), signal.SIGTERM)  # delivered here (main thread)
        raise AssertionError('SIGTERM was not delivered')

    previous = signal.signal(signal.SIGTERM, not_handled)
    try:
        for patch, code, says in ((fails, 1, 'the checks failed half-way'),
                                  (stopped, 143, 'error: stopped by SIGTERM')):
            monkeypatch.setattr(check_dataset, 'check_dataset_config', patch)
            proc = _run(tools, opts, '--max-grid', '0', '--json', str(report))
            assert proc.returncode == code and says in proc.stderr, \
                proc.stderr[-3000:]
            assert not os.listdir(reports)  # no claim, no partial file
    finally:
        signal.signal(signal.SIGTERM, previous)
    monkeypatch.undo()
    proc = _run(tools, opts, '--max-grid', '0', '--json', str(report))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(report.read_text())['errors'] == 0


def test_a_sample_that_cannot_load_is_a_finding_not_an_abort(
        tools, data, tmp_path, monkeypatch, capsys):
    """A frame file missing when the grid loads its samples (an OSError, as
    a failed write is) is an ERROR of the report, and the report is still
    written; only the grid's own write stops the command."""
    from stmixer_mm.apps.cli import check_dataset

    def missing(*args):
        raise FileNotFoundError('rawframes/syn_val_000/img_00001.jpg')

    monkeypatch.setattr(check_dataset, 'grid_image', missing)
    _, opts = data
    report = tmp_path / 'report.json'
    code = check_dataset.main([
        tools.TINY_CFG, '--split', 'val', '--max-grid', '2', '--out-dir',
        str(tmp_path / 'out'), '--json',
        str(report), '--cfg-options', *opts
    ])
    out = capsys.readouterr().out
    assert code == 1, out
    assert 'drawing the keyframes failed: the pipeline cannot load a ' \
        'sample (FileNotFoundError: rawframes/syn_val_000/img_00001.jpg)' \
        in out
    assert json.loads(report.read_text())['errors'] == 1
