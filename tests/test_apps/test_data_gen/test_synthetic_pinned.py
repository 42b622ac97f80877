"""Pinned output of the synthetic data generators and their tools.

Runs the cases of ``stmixer_mm.testing.synthetic_fixture``
(a small AVA set with its demo mp4 through
``tools/data/generate_synthetic_ava.py``, a small tube set through
``tools/data/generate_synthetic_tubes.py``, a per-keyframe tube set through
``generate_synthetic_tubes``) and compares every written file, and what the
tools print, with ``tests/data/synthetic/synthetic_fixture.json``, made from
the code before the generator was split into modules. The script says how
to regenerate the fixture.
"""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stmixer_mm.testing import repo_root
from stmixer_mm.testing import synthetic_fixture as gen

ROOT = Path(repo_root())
FIXTURE = ROOT / 'tests/data/synthetic/synthetic_fixture.json'

with open(FIXTURE) as _f:
    REF = json.load(_f)
CASES = sorted(REF['cases'])
SAME_CV2 = cv2.__version__ == REF['cv2_version']
ENCODED = ('.jpg', '.mp4')
# decoded 4x6 thumbnails under another OpenCV build (other JPEG / MPEG-4
# encoder): per-value and mean absolute difference in grey levels
THUMB_TOL = {'.jpg': (6, 1.5), '.mp4': (12, 3.0)}


@pytest.fixture(scope='module')
def produced(tmp_path_factory):
    out = {}
    for name in CASES:
        out_dir = str(tmp_path_factory.mktemp(name) / name)
        run = gen.run_case(name, out_dir)
        out[name] = dict(run, files=gen.describe(out_dir))
    return out


def test_fixture_covers_the_cases():
    assert CASES == sorted(gen.CASES)


@pytest.mark.parametrize('name', CASES)
def test_printed_output_and_return(produced, name):
    ref, got = REF['cases'][name], produced[name]
    assert got['ret'] == ref['ret']
    assert got['stdout'].splitlines() == ref['stdout'].splitlines()


@pytest.mark.parametrize('name', CASES)
def test_same_files(produced, name):
    assert list(produced[name]['files']) == list(REF['cases'][name]['files'])


@pytest.mark.parametrize('name', CASES)
def test_annotation_files_exact(produced, name):
    ref, got = REF['cases'][name]['files'], produced[name]['files']
    checked = 0
    for rel, rec in ref.items():
        if rel.endswith(ENCODED) or rel not in got:
            continue
        if rel.endswith('.pkl'):
            assert got[rel]['content'] == rec['content'], rel
        else:  # csv, pbtxt, meta.json, manifest.txt: byte for byte
            assert got[rel]['sha256'] == rec['sha256'], rel
        checked += 1
    assert checked >= 7  # label map, 4 csv, meta.json, manifest.txt


@pytest.mark.parametrize('name', CASES)
def test_decoded_frames_close(produced, name):
    ref, got = REF['cases'][name]['files'], produced[name]['files']
    checked = 0
    for rel, rec in ref.items():
        if not rel.endswith(ENCODED) or rel not in got:
            continue
        want = gen.decode_thumbnails(rec['thumbs']).astype(int)
        have = gen.decode_thumbnails(got[rel]['thumbs']).astype(int)
        assert have.shape == want.shape, rel  # frames of the mp4
        diff = np.abs(have - want)
        max_tol, mean_tol = THUMB_TOL[rel[-4:]]
        worst, mean = diff.max(), diff.mean()
        assert worst <= max_tol and mean <= mean_tol, (rel, worst, mean)
        checked += 1
    assert checked >= 48  # every frame of every video


@pytest.mark.skipif(
    not SAME_CV2,
    reason=f'fixture encoded by OpenCV {REF["cv2_version"]}, this is '
    f'{cv2.__version__}: JPEG / mp4 bytes are checked by their decoded '
    'frames only')
@pytest.mark.parametrize('name', CASES)
def test_encoded_files_exact(produced, name):
    ref, got = REF['cases'][name]['files'], produced[name]['files']
    differ = [
        rel for rel, rec in ref.items() if rel.endswith(ENCODED)
        and got.get(rel, {}).get('sha256') != rec['sha256']
    ]
    assert not differ, f'{len(differ)} encoded files differ: {differ[:5]}'
