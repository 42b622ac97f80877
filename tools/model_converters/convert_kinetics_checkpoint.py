r"""Convert a PySlowFast Kinetics checkpoint into the backbone weights of a
CNN STMixer config (the initialisation the official models start from)::

    python tools/model_converters/convert_kinetics_checkpoint.py \
        SRC DST --config CONFIG [--backbone {auto,slowfast,slowonly}]

SRC: Caffe2 ``.pkl`` or PySlowFast ``.pyth``; DST: ``backbone.*`` weights,
written only if they fit ``--config``'s backbone exactly. See
docs/en/useful_tools.md; mapping: ``stmixer_mm/apps/converters/pyslowfast.py``.
"""
from stmixer_mm.apps.cli.convert_kinetics_checkpoint import main

if __name__ == '__main__':
    main()
