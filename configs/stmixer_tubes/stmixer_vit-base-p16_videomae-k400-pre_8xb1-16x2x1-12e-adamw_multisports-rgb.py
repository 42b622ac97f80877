# STMixer, ViT-B/16 (VideoMAE, Kinetics-400), MultiSports: the AVA
# "ViT-B (VideoMAE)" model with 66 actions on the 720p videos (decord),
# training keyframes every 4th annotated frame, clips 16x2 centred and
# clamped, total batch 8, AdamW lr 1e-5, 12 epochs. Evaluated with
# TubeMetric(protocol='multisports'): the official evaluate_multisports.py
# on the same ann_file as mmaction2's MultiSportsMetric (its six unevaluated
# classes left out the same way), tubes linked with each box's own score.
_base_ = [
    '../_base_/models/stmixer_vit-base-p16.py',
    '../_base_/datasets/multisports.py', '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py'
]

pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/videomae/'
    'vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400_20221013-860a3cd3.pth')
model = dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    roi_head=dict(stage_head=dict(num_actions=66)),
    test_cfg=dict(rcnn=dict(multiply_person_score=True)))

train_dataloader = dict(batch_size=1)
optim_wrapper = dict(optimizer=dict(lr=1e-5))
auto_scale_lr = dict(base_batch_size=8)

default_hooks = dict(checkpoint=dict(save_best='mAP/frameAP@0.5'))
load_from = None
