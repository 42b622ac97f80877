"""Generate ``synthetic_fixture.json``: the pinned output of the synthetic
data generators (``stmixer_mm.apps.data_gen``) and of their command-line tools.

The fixture was generated from the code *before* ``synthetic_ava.py`` was
split into scene / rendering / writer modules (issue 22, item 4; commit
6a64fa5) and is read by
``tests/test_apps/test_data_gen/test_synthetic_pinned.py``.
Regenerate it only when a change of the output is intended (and say so in
the commit):

    OMP_NUM_THREADS=1 .venv/bin/python \\
        tests/data/synthetic/generate_synthetic_fixture.py

The cases, how they run and how their files are described:
:mod:`stmixer_mm.testing.synthetic_fixture`.
"""
import json
import os.path as osp
import tempfile
from pathlib import Path

import cv2
import numpy as np

# imported before any output is captured: mmengine's logger keeps the
# stream it was created with
import stmixer_mm  # noqa: F401
from stmixer_mm.testing.synthetic_fixture import CASES, describe, run_case

OUT = Path(__file__).resolve().parent / 'synthetic_fixture.json'


def generate_case(name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = osp.join(tmp, name)
        run = run_case(name, out_dir)
        return dict(run, files=describe(out_dir))


def main() -> None:
    fixture = dict(
        cv2_version=cv2.__version__,
        numpy_version=np.__version__,
        cases={name: generate_case(name)
               for name in CASES})
    with open(OUT, 'w') as f:
        json.dump(fixture, f, indent=0, sort_keys=True)
        f.write('\n')
    print(f'wrote {OUT} ({OUT.stat().st_size} bytes)')


if __name__ == '__main__':
    main()
