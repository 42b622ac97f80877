"""Import your own videos and their annotation export into a data set
this project trains on, with a ready-to-train config.

Formats: ``cvat`` (CVAT for video 1.1 task or job exports, XML or the
downloaded ZIP: one per video, or a folder of them), ``label-studio``
(Label Studio JSON export of a VideoRectangle project), ``csv``
(``video,time,x1,y1,x2,y2,action,person_id``). Layouts:
``ava`` (AVA csv + frames, ``ValidatedAVADataset``) or ``tubes`` (ACT
ground-truth pickle + frames, ``TubeDataset``). The conventions of every
format are in docs/en/annotation_formats.md.

Example::

    python tools/data/import_annotations.py cvat exports/cvat \\
        --videos my_videos --out-dir data/my_set --fps 30
    python tools/train.py data/my_set/config.py
"""
import sys

from stmixer_mm.cli.import_annotations import main

if __name__ == '__main__':
    sys.exit(main())
