"""The data set doctor (``stmixer-check-dataset`` of a pip install): report
before training every cause of a silent mAP 0 visible in a config's data sets.

    python tools/analysis_tools/check_dataset.py CONFIG [--split train val]

See :mod:`stmixer_mm.apps.cli.check_dataset`."""
import sys

from stmixer_mm.apps.cli.check_dataset import main

if __name__ == '__main__':
    sys.exit(main())
