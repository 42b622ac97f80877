"""Spatio-temporal action detection demo: videos, frame folders, folders of
videos, webcams and streams (mmaction2's ``demo/`` layout)::

    python demo/demo_spatiotemporal_det.py INPUT CONFIG CHECKPOINT \\
        [--out-dir DIR] [--overwrite] [--stride N] [--label-map FILE.pbtxt] \\
        [--person-thr P] [--score-thr 0.3] [--device cpu] [--tubes] \\
        [--online [--realtime] [--show]] ...

``tools/demo.py`` is the same command. The arguments and what they do:
``python demo/demo_spatiotemporal_det.py --help``, the docstring of
``stmixer_mm/apps/cli/demo.py`` and ``docs/en/useful_tools.md``.
"""
from stmixer_mm.apps.cli.demo import main

if __name__ == '__main__':
    main(prog='demo/demo_spatiotemporal_det.py')
