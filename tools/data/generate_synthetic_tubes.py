r"""Generate the synthetic data set with ACT-format tube ground truth.

    python tools/data/generate_synthetic_tubes.py --no-demo   # quick start
    # the occlusion set (actors cross, leave and re-enter the frame):
    python tools/data/generate_synthetic_tubes.py --motion crossing \
        --out-dir data/synthetic_tubes_crossing --no-demo

Defaults, options and the crossing set: docs/en/datasets.md."""
from stmixer_mm.apps.data_gen.synthetic_tubes import main

if __name__ == '__main__':
    main()
