"""Convert between sharded and full checkpoints of sharded training::

    python tools/model_converters/convert_sharded_checkpoint.py SRC DST
        [--to-sharded [--world-size N]]

Default: SRC a sharded folder ``epoch_K.pth/``, DST one mmengine checkpoint
file; ``--to-sharded`` the other way. Shards unpickled under allow-lists
(``STMIXER_MM_TRUSTED_CHECKPOINTS`` for more). See docs/en/large_backbones.md.
"""
from stmixer_mm.apps.cli.convert_sharded_checkpoint import main

if __name__ == '__main__':
    main()
