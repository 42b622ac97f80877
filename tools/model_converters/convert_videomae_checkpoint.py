r"""Convert a VideoMAE / VideoMAE V2 ViT checkpoint into the backbone weights
of a large-ViT STMixer config::

    python tools/model_converters/convert_videomae_checkpoint.py \
        SRC DST --config CONFIG
        [--cfg-options k=v ...] [--trust-pickle]

Strict: the result must fit ``--config``'s backbone key for key (only
``backbone.norm`` may be missing, for a recogniser with ``fc_norm``), else
nothing is written; mmaction2's converted files need no conversion. See
docs/en/large_backbones.md and :mod:`stmixer_mm.converters.videomae`.
"""
from stmixer_mm.cli.convert_videomae_checkpoint import main

if __name__ == '__main__':
    main()
