"""Output folders (stmixer_mm.apps.output_files): staged writes leave the
folder as it was on failure, never replace what no earlier run wrote, and
read the whole manifest before deleting anything."""
import os

import pytest

from stmixer_mm.apps.output_files import (MANIFEST, file_states,
                                          remove_generated, staged_output_dir)


def _run(out, files, overwrite=False, fail=False):
    with staged_output_dir(str(out), overwrite) as stage:
        for rel, text in files.items():
            path = os.path.join(stage, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
        if fail:
            raise RuntimeError('failed half way')


def test_staged_writes(tmp_path):
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        _run(out, {'a/b.txt': '1'}, fail=True)
    assert not out.exists()  # created by the run, removed with it
    _run(out, {'a/b.txt': '1', 'c.txt': '2'})
    assert (out /
            MANIFEST).read_text().split() == ['a/b.txt', 'c.txt', MANIFEST]
    assert not [e for e in os.listdir(out) if e.startswith('.staging-')]
    (out / 'mine.txt').write_text('keep')
    before = file_states(str(out))
    with pytest.raises(RuntimeError):
        _run(out, {'a/b.txt': 'new'}, overwrite=True, fail=True)
    assert file_states(str(out)) == before
    _run(out, {'a/b.txt': 'new'}, overwrite=True)
    assert (out / 'a' / 'b.txt').read_text() == 'new'
    assert not (out / 'c.txt').exists() and (out / 'mine.txt').exists()
    assert (out / MANIFEST).read_text().split() == ['a/b.txt', MANIFEST]


def test_a_file_where_a_folder_goes_is_refused(tmp_path):
    out = tmp_path / 'out'
    _run(out, {'x.txt': '1'})
    (out / 'annotations').write_text('mine: a file, not a folder')
    before = file_states(str(out))
    with pytest.raises(
            FileExistsError, match='annotations exists and is '
            'not listed'):
        _run(out, {'annotations/train.csv': 'rows'}, overwrite=True)
    assert file_states(str(out)) == before


def test_manifest_checked_before_anything_is_deleted(tmp_path):
    out = tmp_path / 'out'
    _run(out, {'a.txt': '1', 'b.txt': '2'})
    with open(out / MANIFEST, 'a') as f:
        f.write('../outside.txt\n')
    with pytest.raises(OSError, match='is outside .*nothing was deleted'):
        remove_generated(str(out))
    assert (out / 'a.txt').exists() and (out / 'b.txt').exists()
    os.remove(out / MANIFEST)
    with pytest.raises(FileExistsError, match='it holds a.txt, b.txt'):
        remove_generated(str(out))


def test_claims_left_by_a_failed_run_are_removed_at_exit(tmp_path):
    """Issue 74: the empty claims of a run that failed are removed when it
    exits (``release_unfilled_claims`` runs at exit), so they block no next
    run; a claim filled (in place or renamed over) or settled is kept."""
    from stmixer_mm.apis.output_files import (OutputFiles, claim_output,
                                              release_unfilled_claims)
    from stmixer_mm.apis.video_io import JsonlWriter
    left, filled = str(tmp_path / 'left.json'), str(tmp_path / 'filled.jpg')
    claim_output(left)
    claim_output(filled)
    with open(filled, 'w') as f:  # written in place
        f.write('x')
    out = OutputFiles(dict(csv=str(tmp_path / 'a.csv')))
    with out.open('csv') as f:  # renamed over the claim
        f.write('')
    JsonlWriter(str(tmp_path / 'empty.jsonl')).close()  # complete, 0 lines
    # (claims other tests of this process left, e.g. a writer that failed
    # on purpose, are released too: only this test's are compared)
    ours = [
        p for p in release_unfilled_claims() if p.startswith(str(tmp_path))
    ]
    assert ours == [left]
    assert sorted(
        os.listdir(tmp_path)) == ['a.csv', 'empty.jsonl', 'filled.jpg']
    assert release_unfilled_claims() == []


@pytest.mark.parametrize('error', [RuntimeError, KeyboardInterrupt])
def test_output_files_in_a_with_block_release_on_any_error(tmp_path, error):
    from stmixer_mm.apis.output_files import OutputFiles
    paths = dict(a=str(tmp_path / 'a.json'), b=str(tmp_path / 'b.csv'))
    with pytest.raises(error):
        with OutputFiles(paths) as out:
            with out.open('a') as f:
                f.write('{}')
            assert sorted(os.listdir(tmp_path)) == ['a.json', 'b.csv']
            raise error()
    assert os.listdir(tmp_path) == ['a.json']  # complete: kept
