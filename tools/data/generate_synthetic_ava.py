"""Generate the synthetic AVA-format data set used by the quick start.

    python tools/data/generate_synthetic_ava.py                 # quick start
    python tools/data/generate_synthetic_ava.py --out-dir data/syn_tiny \\
        --num-train-videos 2 --num-val-videos 1 --seconds-per-video 4

Defaults match ``configs/_base_/datasets/synthetic_ava.py``; a different
``--fps``, ``--seconds-per-video``, ``--timestamp-start`` or ``--start-index``
must also go into the config (the command prints the values to use)."""
import sys

from stmixer_mm.apps.cli.generate_synthetic_ava import main

if __name__ == '__main__':
    sys.exit(main())
