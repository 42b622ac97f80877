r"""Convert a VideoMAE / VideoMAE V2 ViT checkpoint into the backbone weights
of a large-ViT STMixer config::

    python tools/model_converters/convert_videomae_checkpoint.py \
        SRC DST --config CONFIG

Strict (only ``backbone.norm`` may be missing); docs/en/large_backbones.md.
"""
from stmixer_mm.apps.cli.convert_videomae_checkpoint import main

if __name__ == '__main__':
    main()
