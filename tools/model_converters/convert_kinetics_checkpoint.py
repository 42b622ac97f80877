r"""Convert a PySlowFast Kinetics checkpoint into the backbone weights of a
CNN STMixer config (the initialisation the official models start from)::

    python tools/model_converters/convert_kinetics_checkpoint.py \
        SRC DST --config CONFIG
        [--backbone {auto,slowfast,slowonly}]
        [--format {auto,caffe2,pyslowfast}] [--cfg-options k=v ...]
        [--trust-pickle]

SRC: a Caffe2 ``.pkl`` or PySlowFast ``.pyth``; DST: ``backbone.*`` weights for
``model.init_cfg=dict(type='Pretrained', checkpoint=DST)``. Strict (nothing
written unless the weights fit ``--config``'s backbone exactly);
docs/en/useful_tools.md, name mapping in
``stmixer_mm/converters/pyslowfast.py``.
"""
from stmixer_mm.cli.convert_kinetics_checkpoint import main

if __name__ == '__main__':
    main()
