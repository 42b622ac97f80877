"""Convert a VideoMAE / VideoMAE V2 ViT checkpoint into the backbone weights
of a large-ViT STMixer config::

    python tools/model_converters/convert_videomae_checkpoint.py \
        SRC DST --config CONFIG
        [--cfg-options k=v ...] [--trust-pickle]

SRC is a checkpoint of VideoMAE's or VideoMAE V2's own code (e.g. ViT-L/H
Kinetics fine-tunes, ``vit_g_hybrid_pt_1200e_k710_ft.pth``; fine-tuned or
pre-trained, see :mod:`stmixer_mm.converters.videomae`). DST gets an
mmengine checkpoint ``{'meta': {...}, 'state_dict': {'backbone.*': ...}}``
that the configs load through ``model.init_cfg=dict(type='Pretrained',
checkpoint=DST)``. mmaction2's converted files (e.g. its VideoMAE ViT-L
Kinetics-400 weights) need no conversion.

The conversion is strict: an unknown key stops it, and the result must fit
the backbone of ``--config`` (built on the meta device: no memory, no
download) key for key and shape for shape; the only key allowed to be
missing is ``backbone.norm`` when the source is a recogniser with a
mean-pooling ``fc_norm`` instead (it keeps its initialisation, as for the
ViT-B configs). Otherwise nothing is written.
"""
from stmixer_mm.cli.convert_videomae_checkpoint import main

if __name__ == '__main__':
    main()
