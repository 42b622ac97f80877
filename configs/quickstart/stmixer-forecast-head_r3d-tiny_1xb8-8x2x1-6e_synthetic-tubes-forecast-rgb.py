# Forecasting, second phase (docs/en/forecasting.md, issue 62): 6 more
# epochs that train the forecast head alone, on the features of the first
# phase (stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb
# .py, whose last checkpoint it loads). Every other part keeps learning
# rate 0 and the backbone its BatchNorm statistics, so the detections are
# the first phase's; the head, which learns too slowly on features that
# still move, gets 720 iterations on fixed ones, at 3x the learning rate.
#
#   python tools/train.py \
#       configs/quickstart/stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb.py
#   python tools/train.py \
#       configs/quickstart/stmixer-forecast-head_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb.py
_base_ = [
    './stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb.py'
]

load_from = ('work_dirs/stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-'
             'tubes-forecast-rgb/epoch_6.pth')
model = dict(backbone=dict(norm_eval=True))
param_scheduler = []  # constant: the head at 3x the first phase's rate
frozen = dict(lr_mult=0.0, decay_mult=0.0)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone': frozen,
            'neck': frozen,
            'rpn_head': frozen,
            'roi_head.stages': frozen,
            'roi_head.forecast_head': dict(lr_mult=3.0)
        }))
