# New-style twin of configs/_base_/schedules/adamw_12e.py: the official
# STMixer schedule (reference section 7): AdamW, weight decay 1e-4, 12
# epochs, linear warm-up from x0.1 over 2 epochs, LR x0.1 at epochs 5 and 8.
# lr 2e-5 is for a total batch of 16 (CNN backbones); the ViT configs
# override it with 1e-5 for a total batch of 8.
from mmengine.optim import LinearLR, MultiStepLR, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop, TestLoop, ValLoop
from torch.optim import AdamW

train_cfg = dict(
    type=EpochBasedTrainLoop, max_epochs=12, val_begin=1, val_interval=1)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)

param_scheduler = [
    dict(
        type=LinearLR,
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(
        type=MultiStepLR,
        by_epoch=True,
        begin=0,
        end=12,
        milestones=[5, 8],
        gamma=0.1)
]

optim_wrapper = dict(
    type=OptimWrapper, optimizer=dict(type=AdamW, lr=2e-5, weight_decay=1e-4))

# `tools/train.py --auto-scale-lr` scales lr by (actual total batch / 16).
auto_scale_lr = dict(enable=False, base_batch_size=16)
