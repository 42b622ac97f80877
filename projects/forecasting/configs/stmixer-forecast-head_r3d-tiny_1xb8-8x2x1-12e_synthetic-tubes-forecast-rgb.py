# Forecasting, second phase (docs/en/forecasting.md, issue 62): 12 more
# epochs that train the forecast head alone, on the features of the first
# phase (stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb
# .py, whose last checkpoint it loads). Every other part is frozen
# (model.frozen_modules: no gradient, eval mode, no backward through it),
# so the detections are the first phase's and an iteration costs less than
# half of one of the first phase; the head, which learns too slowly on
# features that still move, gets 1440 iterations on fixed ones, from 3x
# the learning rate down to 0 (cosine; 24 epochs overfit: forecasting.md).
#
#   python tools/train.py \
#       projects/forecasting/configs/stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb.py
#   python tools/train.py \
#       projects/forecasting/configs/stmixer-forecast-head_r3d-tiny_1xb8-8x2x1-12e_synthetic-tubes-forecast-rgb.py
_base_ = [
    './stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb.py'
]
# the project's parts (run from the repository root, or with it on
# PYTHONPATH; see ../README.md)
custom_imports = dict(
    imports=['projects.forecasting.forecasting'], allow_failed_imports=False)

load_from = ('work_dirs/stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-'
             'tubes-forecast-rgb/epoch_6.pth')
model = dict(
    frozen_modules=['backbone', 'neck', 'rpn_head', 'roi_head.stages'])
max_epochs = 12
train_cfg = dict(
    max_epochs=max_epochs, val_begin=max_epochs, val_interval=max_epochs)
# the head from 3x the first phase's rate (lr_mult below) down to 0
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={'roi_head.forecast_head': dict(lr_mult=3.0)}))
