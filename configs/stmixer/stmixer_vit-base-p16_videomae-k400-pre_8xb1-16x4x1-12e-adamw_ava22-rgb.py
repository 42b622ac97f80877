# STMixer, ViT-B/16 (VideoMAE, Kinetics-400), AVA v2.2: the official "ViT-B
# (VideoMAE)" setting. 16x4 clips, total batch 8 = 8 GPUs x 1, AdamW lr 1e-5
# (no layer-wise decay, as the official LAYER_DECAY 1.0; see the
# `-layer-decay` variant), 12 epochs, drop path 0.2, activation
# checkpointing of the backbone blocks (model base).
_base_ = [
    '../_base_/models/stmixer_vit-base-p16.py', '../_base_/datasets/ava22.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py'
]

# Backbone initialisation: mmaction2's VideoMAE ViT-B/16 fine-tuned on
# Kinetics-400 (16x4x1). Its `backbone.*` weights load into the detector;
# its `backbone.fc_norm` (the recogniser's mean-pooling norm) has no
# counterpart here, the token norm `backbone.norm` keeps its init.
pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/videomae/'
    'vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400_20221013-860a3cd3.pth')
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

train_dataloader = dict(batch_size=1)
optim_wrapper = dict(optimizer=dict(lr=1e-5))
auto_scale_lr = dict(base_batch_size=8)

# To evaluate or fine-tune a trained STMixer, pass its checkpoint to
# tools/test.py or set load_from; an official STMixer checkpoint loads as
# it is (converted in memory, configs/stmixer/README.md), e.g.
# load_from = 'checkpoints/stmixer_vit-base-p16_videomae-k400-pre_ava22.pth'
load_from = None
