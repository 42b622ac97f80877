# New-style twin of configs/stmixer/stmixer-focal_vit-base-p16_videomae-
# k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py:
# variant: sigmoid focal loss for the person / no-object classification
# (one logit per query, normalised by the number of GT boxes) and the
# matching focal cost in the Hungarian assigner, instead of the official
# 2-way softmax cross entropy with class weights [1, 0.1]. Everything else
# is the ViT-B (VideoMAE) config.
from mmdet.models.losses import FocalLoss
from mmdet.models.task_modules import BBoxL1Cost, FocalLossCost, IoUCost
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

# replaces the inherited loss (old style: `_delete_=True`)
model.roi_head.stage_head.loss_person = dict(
    type=FocalLoss, use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0)
model.train_cfg.rcnn.assigner.match_costs = [
    dict(type=FocalLossCost, weight=2.0),
    dict(type=BBoxL1Cost, weight=2.0, box_format='xyxy'),
    dict(type=IoUCost, iou_mode='giou', weight=2.0)
]
