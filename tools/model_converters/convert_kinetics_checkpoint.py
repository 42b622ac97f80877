"""Convert a PySlowFast Kinetics checkpoint into the backbone weights of a
CNN STMixer config (the initialisation the official models start from)::

    python tools/model_converters/convert_kinetics_checkpoint.py \
        SRC DST --config CONFIG
        [--backbone {auto,slowfast,slowonly}]
        [--format {auto,caffe2,pyslowfast}] [--cfg-options k=v ...]
        [--trust-pickle]

SRC is a PySlowFast model-zoo file: a Caffe2 pickle (``.pkl``, e.g.
``SLOWFAST_8x8_R50.pkl``, ``SLOWONLY_4x16_R50.pkl``,
``SLOWFAST_32x2_R101_50_50.pkl``; ``{'blobs': {...}}`` with names such as
``res2_0_branch2a_w``) or a PySlowFast ``.pyth`` checkpoint (``model_state``
with names such as ``s1.pathway0_stem.conv.weight``). DST gets an mmengine
checkpoint ``{'meta': {...}, 'state_dict': {'backbone.*': ...}}``, which the
configs load through ``model.init_cfg=dict(type='Pretrained',
checkpoint=DST)`` (the neck and decoder keep their own initialisation).

The conversion is strict: a name that matches no rule stops the tool (the
Kinetics classifier, ``lr``, ``model_iter`` and optimizer momentum blobs
are dropped and listed), and the converted weights must fit the backbone of
``--config`` exactly (no missing key, no unexpected key, no shape
mismatch), otherwise nothing is written. Pickles are read with an
unpickler that only builds numpy arrays (``--trust-pickle`` for full
unpickling of files you trust); a truncated or corrupt file is reported as
such. The name mapping is documented in
``stmixer_mm/converters/pyslowfast.py``
(:func:`convert_pyslowfast_state_dict`).
"""
from stmixer_mm.cli.convert_kinetics_checkpoint import main

if __name__ == '__main__':
    main()
