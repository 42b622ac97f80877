# New-style twin of configs/quickstart/
# stmixer-forecast-head_r3d-tiny_1xb8-8x2x1-12e_synthetic-tubes-forecast-rgb.py:
# the forecasting quick start's second phase, 12 epochs of the forecast head
# alone (the rest frozen, from 3x the learning rate down to 0) on the
# first phase's features (docs/en/forecasting.md).
from mmengine.config import read_base
from mmengine.optim import CosineAnnealingLR

with read_base():
    from .stmixer_forecast_r3d_tiny_1xb8_8x2x1_6e_synthetic_tubes_forecast_rgb import *  # noqa: E501 # isort: skip

load_from = ('work_dirs/stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-'
             'tubes-forecast-rgb/epoch_6.pth')
model.update(
    dict(frozen_modules=['backbone', 'neck', 'rpn_head', 'roi_head.stages']))
max_epochs = 12
train_cfg.update(
    dict(max_epochs=max_epochs, val_begin=max_epochs, val_interval=max_epochs))
# the head from 3x the first phase's rate (lr_mult below) down to 0
param_scheduler = [
    dict(
        type=CosineAnnealingLR,
        T_max=max_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
optim_wrapper.update(
    dict(
        paramwise_cfg=dict(
            custom_keys={'roi_head.forecast_head': dict(lr_mult=3.0)})))
