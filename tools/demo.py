"""Spatio-temporal action detection demo: videos, frame folders, folders of
videos, webcams and streams::

    python tools/demo.py INPUT CONFIG CHECKPOINT [--out-dir DIR] [--overwrite]
        [--stride N] [--label-map FILE.pbtxt] [--person-thr P]
        [--score-thr 0.3] [--device cpu] [--non-strict] [--codec h264]
        [--cfg-options KEY=VALUE ...] [--no-progress]
        [--tubes [--tube-iou 0.5]]
        [--online [--realtime] [--show] [--max-frames N] [--max-lost 3]]

As ``demo/demo_spatiotemporal_det.py``; docs/en/useful_tools.md, online.md.
"""
from stmixer_mm.cli.demo import main

if __name__ == '__main__':
    main(prog='tools/demo.py')
