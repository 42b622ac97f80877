# New-style twin of configs/stmixer_tubes/
# stmixer-mask_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_
# jhmdb21-rgb.py: STMixer ViT-B/16 (VideoMAE, Kinetics-400) on JHMDB-21 split
# 0 with actor masks: the JHMDB ViT-B model plus STMixerMaskHead (DETR's mask
# head on the last stage's queries at the keyframe), trained with focal +
# dice losses on JHMDB's puppet masks (TubeDataset(mask_root=...),
# docs/en/masks.md) and evaluated with TubeMetric (actions) and
# ActorMaskMetric (COCO-style person mask and box AP at every test frame).
from mmengine.config import read_base

from stmixer_mm.datasets import LoadActorMasks, PackActorInputs
from stmixer_mm.evaluation import ActorMaskMetric
from stmixer_mm.models import STMixerHeadsDecoder, STMixerMaskHead

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x2x1_12e_adamw_jhmdb21_rgb import *  # noqa: E501,isort:skip

mask_root = 'data/jhmdb/puppet_mask'

model.update(
    dict(
        roi_head=dict(
            type=STMixerHeadsDecoder, mask_head=dict(type=STMixerMaskHead))))
# the head, new, at DETR's learning rate (1e-4; the detector's is 1e-5), as
# the quick start's mask head learns at 10x its detector's rate
optim_wrapper.update(
    dict(
        paramwise_cfg=dict(
            custom_keys={'roi_head.mask_head': dict(lr_mult=10.0)})))

# the base's pipelines with the masks loaded after every geometric
# transform and packed with the actors (test_pipeline, not read by the
# dataloaders, stays the base's, as in the old-style file)
train_pipeline = [
    *train_pipeline[:-2],
    dict(type=LoadActorMasks), train_pipeline[-2],
    dict(type=PackActorInputs, meta_keys=meta_keys)
]
val_pipeline = [
    *val_pipeline[:-2],
    dict(type=LoadActorMasks), val_pipeline[-2],
    dict(type=PackActorInputs, meta_keys=meta_keys)
]
train_dataloader.dataset.update(
    dict(pipeline=train_pipeline, mask_root=mask_root))
val_dataloader.dataset.update(dict(pipeline=val_pipeline, mask_root=mask_root))
test_dataloader = val_dataloader

val_evaluator = [val_evaluator, dict(type=ActorMaskMetric)]
test_evaluator = val_evaluator
