# STMixer, SlowFast-R50 8x8 (Kinetics-400 pre-trained), AVA v2.2: the
# official "SlowFast-R50" setting. Clips are 32 frames x interval 2 (the
# slow path keeps 8 of them, the fast path all 32: mmaction2 calls this
# "8x8x1"); total batch 16 = 8 GPUs x 2, AdamW lr 2e-5, 12 epochs.
_base_ = [
    '../_base_/models/stmixer_slowfast-r50.py',
    '../_base_/datasets/ava22_32x2x1.py', '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py'
]

# Backbone initialisation: PySlowFast's Kinetics-400 SLOWFAST_8x8_R50.pkl
# (https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/
# SLOWFAST_8x8_R50.pkl, the official starting point) converted to mmaction2's
# ResNet3dSlowFast names under `backbone.`. mmaction2's own K400 SlowFast
# checkpoints have no BN/ReLU in the lateral connections: use them only with
# slow_pathway.lateral_norm=False.
pretrained = 'checkpoints/slowfast_r50_8x8_k400_pyslowfast-converted.pth'
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
# load_from = 'checkpoints/stmixer_slowfast-r50_k400-pre_ava22.pth'
load_from = None
