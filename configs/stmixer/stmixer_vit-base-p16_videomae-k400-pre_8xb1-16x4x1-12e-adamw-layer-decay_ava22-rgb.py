# Variant: layer-wise learning-rate decay for the ViT backbone with
# mmaction2's LearningRateDecayOptimizerConstructor (as its VideoMAE AVA
# configs): the patch embedding gets lr * 0.75^13, block i lr * 0.75^(12-i),
# the neck and the decoder the full lr; 1-D parameters (norms, biases) get
# no weight decay. The official STMixer uses no decay (LAYER_DECAY 1.0).
_base_ = [
    './stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw'
    '_ava22-rgb.py'
]

optim_wrapper = dict(
    constructor='LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(
        decay_rate=0.75, decay_type='layer_wise', num_layers=12))
