# New-style twin of configs/stmixer/
# stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py: STMixer,
# SlowFast-R50 8x8 (Kinetics-400 pre-trained), AVA v2.2, the official
# "SlowFast-R50" setting. Clips are 32 frames x interval 2 (the slow path
# keeps 8 of them, the fast path all 32); total batch 16 = 8 GPUs x 2, AdamW
# lr 2e-5, 12 epochs.
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.ava22_32x2x1 import *
    from .._base_.default_runtime import *
    from .._base_.models.stmixer_slowfast_r50 import *
    from .._base_.schedules.adamw_12e import *

# Backbone initialisation: PySlowFast's Kinetics-400 SLOWFAST_8x8_R50.pkl
# converted to mmaction2's ResNet3dSlowFast names under `backbone.` (see
# the old-style file).
pretrained = 'checkpoints/slowfast_r50_8x8_k400_pyslowfast-converted.pth'
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
