# STMixer, SlowFast-R101 8x8 with non-local blocks (Kinetics-600
# pre-trained), AVA v2.2: the official "SlowFast-R101-NL" setting. Same
# clips, neck, head and schedule as the SlowFast-R50 config; the backbone
# follows PySlowFast's SLOWFAST_32x2_R101_50_50 (the official config file):
# - depth 101, fast-to-slow fusion kernel 5 (R50: 7);
# - res4 (23 blocks): temporal kernel 3 only in the first 6 blocks of both
#   pathways (NUM_BLOCK_TEMP_KERNEL [[3, 3], [4, 4], [6, 6], [3, 3]]);
# - dot-product non-local blocks after slow-path res4 blocks 6, 13 and 20,
#   computed as PySlowFast's Nonlocal (PySlowFastNonLocal3d: keys/values
#   from the input max-pooled by (2, 2, 2), affinity divided by the number
#   of keys, conv_out with bias + BN zero-initialised), with PySlowFast's
#   parameter names. (mmcv's NonLocal3d, mmaction2's default, pools (1, 2, 2)
#   after the phi/g convolutions: a different network.)
_base_ = ['./stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py']

# Backbone initialisation: PySlowFast's Kinetics-600 SlowFast-R101 8x8 NL
# (https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/ava/pretrain/
# SLOWFAST_32x2_R101_50_50.pkl, the official starting point) converted to
# this backbone's names under `backbone.`, checked against this config:
#   python tools/model_converters/convert_kinetics_checkpoint.py \
#       SLOWFAST_32x2_R101_50_50.pkl \
#       checkpoints/slowfast_r101_8x8_k600_pyslowfast-converted.pth \
#       --config THIS_CONFIG
pretrained = 'checkpoints/slowfast_r101_8x8_k600_pyslowfast-converted.pth'
model = dict(
    backbone=dict(
        slow_pathway=dict(
            depth=101,
            fusion_kernel=5,
            inflate=(0, 0, (1, ) * 6 + (0, ) * 17, 1),
            non_local=(0, 0, ((0, ) * 6 + (1, )) * 3 + (0, ) * 2, 0),
            non_local_cfg=dict(
                type='PySlowFastNonLocal3d',
                pool_size=(2, 2, 2),
                instantiation='dot_product')),
        fast_pathway=dict(
            depth=101, inflate=(1, 1, (1, ) * 6 + (0, ) * 17, 1))),
    init_cfg=dict(checkpoint=pretrained))

# load_from = 'checkpoints/stmixer_slowfast-r101-nl_k600-pre_ava22.pth'
load_from = None
