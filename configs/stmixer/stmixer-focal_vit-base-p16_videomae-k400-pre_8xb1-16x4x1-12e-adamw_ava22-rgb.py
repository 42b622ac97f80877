# Variant: sigmoid focal loss for the person / no-object classification
# (one logit per query, normalised by the number of GT boxes) and the
# matching focal cost in the Hungarian assigner, instead of the official
# 2-way softmax cross entropy with class weights [1, 0.1]. Everything else
# is the ViT-B (VideoMAE) config.
_base_ = [
    './stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw'
    '_ava22-rgb.py'
]

model = dict(
    roi_head=dict(
        stage_head=dict(
            loss_person=dict(
                _delete_=True,
                type='mmdet.FocalLoss',
                use_sigmoid=True,
                gamma=2.0,
                alpha=0.25,
                loss_weight=2.0))),
    train_cfg=dict(
        rcnn=dict(
            assigner=dict(match_costs=[
                dict(type='mmdet.FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=2.0, box_format='xyxy'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ]))))
