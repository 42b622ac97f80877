r"""Import your own videos and their annotation export into a data set
this project trains on, with a ready-to-train config. Formats ``cvat``,
``label-studio``, ``csv``; layouts ``ava`` or ``tubes``:
docs/en/annotation_formats.md. Example::

    python tools/data/import_annotations.py cvat exports/cvat \
        --videos my_videos --out-dir data/my_set --fps 30
    python tools/train.py data/my_set/config.py
"""
import sys

from stmixer_mm.apps.cli.import_annotations import main

if __name__ == '__main__':
    sys.exit(main())
