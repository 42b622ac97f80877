# STMixer, SlowOnly-R50 4x16 (Kinetics-400 pre-trained), AVA v2.2: the
# official "SlowOnly-R50" setting (total batch 16 = 8 GPUs x 2, AdamW lr 2e-5,
# 12 epochs).
_base_ = [
    '../_base_/models/stmixer_slowonly-r50.py',
    '../_base_/datasets/ava22_4x16x1.py', '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py'
]

# Backbone initialisation: mmaction2's Kinetics-400 SlowOnly-R50 4x16x1
# (the same network as PySlowFast's SLOWONLY_4x16_R50.pkl, which the
# official release starts from); its `backbone.*` weights load into the
# detector, the rest is initialised by the detector's own init_weights.
pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/slowonly/'
    'slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb/'
    'slowonly_r50_4x16x1_256e_8xb16_kinetics400-rgb_20220901-f6a40d08.pth')
# Training on CUDA: the forward and backward replayed as CUDA graphs per
# padded batch shape (graph_train_cfg=None: eager; docs/en/gpu.md), each
# batch padded to one of the AVA base's train_pad_shapes
model = dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    graph_train_cfg=dict(),
    data_preprocessor=dict(train_pad_shapes={{_base_.train_pad_shapes}}))
# Under DDP a rank compiling a batch shape (minutes: docs/en/gpu.md) keeps
# the others waiting in the gradients' all-reduce: a process-group timeout
# that covers it (torch's default for NCCL is 10 minutes)
env_cfg = dict(dist_cfg=dict(timeout=1800))

train_dataloader = dict(batch_size=2)

# To evaluate or fine-tune a trained STMixer, pass its checkpoint to
# tools/test.py or set load_from; an official STMixer checkpoint loads as
# it is (converted in memory, configs/stmixer/README.md), e.g.
# load_from = 'checkpoints/stmixer_slowonly-r50_k400-pre_ava22.pth'
load_from = None
