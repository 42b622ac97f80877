# New-style twin of configs/stmixer/
# stmixer_slowonly-r50_k400-pre_8xb2-4x16x1-12e-adamw_ava22-rgb.py: STMixer,
# SlowOnly-R50 4x16 (Kinetics-400 pre-trained), AVA v2.2, the official
# "SlowOnly-R50" setting (total batch 16 = 8 GPUs x 2, AdamW lr 2e-5, 12
# epochs).
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.ava22_4x16x1 import *
    from .._base_.default_runtime import *
    from .._base_.models.stmixer_slowonly_r50 import *
    from .._base_.schedules.adamw_12e import *

# Backbone initialisation: mmaction2's Kinetics-400 SlowOnly-R50 4x16x1 (the
# same network as PySlowFast's SLOWONLY_4x16_R50.pkl, which the official
# release starts from); its `backbone.*` weights load into the detector.
pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/slowonly/'
    'slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb/'
    'slowonly_r50_4x16x1_256e_8xb16_kinetics400-rgb_20220901-f6a40d08.pth')
# Training on CUDA replayed as CUDA graphs (see the old-style file)
model.update(
    dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        graph_train_cfg=dict()))
model.data_preprocessor.update(dict(train_pad_shapes=train_pad_shapes))

train_dataloader.batch_size = 2

# To evaluate or fine-tune a trained STMixer, pass its checkpoint to
# tools/test.py or set load_from; an official STMixer checkpoint loads as
# it is (converted in memory, configs/stmixer/README.md).
load_from = None
