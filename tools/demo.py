"""Spatio-temporal action detection demo: videos, frame folders, folders of
videos, webcams and streams::

    python tools/demo.py INPUT CONFIG CHECKPOINT [--out-dir DIR] [--online]

CONFIG: a file, ``stmixer_mm::<folder>/<config>.py`` or a model name of
``model-index.yml``; the JSON / JSON Lines: docs/en/result_format.md.
As ``demo/demo_spatiotemporal_det.py``; docs/en/useful_tools.md, online.md.
"""
from stmixer_mm.apps.cli.demo import main

if __name__ == '__main__':
    main()
