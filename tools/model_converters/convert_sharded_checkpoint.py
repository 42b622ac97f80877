"""Convert between sharded and full checkpoints of sharded training::

    python tools/model_converters/convert_sharded_checkpoint.py SRC DST
        [--to-sharded [--world-size N]]

By default SRC is a sharded folder ``epoch_K.pth/``
(``strategy.state_dict_cfg='sharded'``) and DST one ordinary mmengine
checkpoint file; ``--to-sharded`` goes the other way. One process, no GPU.
Shards are unpickled under allow-lists (``STMIXER_MM_TRUSTED_CHECKPOINTS`` for
more). See docs/en/large_backbones.md.
"""
from stmixer_mm.cli.convert_sharded_checkpoint import main

if __name__ == '__main__':
    main()
