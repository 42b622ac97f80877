# STMixer, ViT-g/14 (VideoMAE V2: hybrid pre-training, Kinetics-710
# fine-tune), AVA v2.2, trained sharded (FSDP, bf16, activation
# checkpointing) with mmengine's FlexibleRunner. Pyramid strides 3.5 / 7 /
# 14 / 28 (patch 14): see configs/_base_/models/stmixer_vit-giant-p14.py.
# Recipe: the ViT-L one (official STMixer schedule, layer-wise decay 0.8,
# here over 40 blocks; drop path 0.2), action loss weight 48 as the
# official VideoMAE V2 (ViT-B) STMixer config. No published STMixer ViT-g
# recipe exists; VideoMAE V2's own AVA result (42.6 mAP) is a two-stage
# detector. Weights: VideoMAE V2's `vit_g_hybrid_pt_1200e_k710_ft.pth`,
# converted once from its layout:
#   python tools/model_converters/convert_videomae_checkpoint.py SRC.pth \
#       checkpoints/vit-giant-p14_videomaev2-k710-pre_backbone.pth \
#       --config THIS
_base_ = [
    '../_base_/models/stmixer_vit-giant-p14.py', '../_base_/datasets/ava22.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py',
    '../_base_/strategies/fsdp_bf16_vit.py'
]

pretrained = 'checkpoints/vit-giant-p14_videomaev2-k710-pre_backbone.pth'
model = dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    roi_head=dict(stage_head=dict(loss_action=dict(loss_weight=48.0))))

train_dataloader = dict(batch_size=1)
optim_wrapper = dict(
    optimizer=dict(lr=1e-5),
    constructor='LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=40))
auto_scale_lr = dict(base_batch_size=8)
load_from = None
