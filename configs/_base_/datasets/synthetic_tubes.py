# Synthetic tube data made by tools/data/generate_synthetic_tubes.py: the
# synthetic AVA-layout frames (rawframes/<video>/img_%05d.jpg, 192x128,
# 16 fps) with ACT-format ground truth annotations/tubes_GT.pkl, 4 classes
# with one label per person: stand, crouch (postures, one frame shows them),
# walk, jump (motion, only several frames show them). With the generator's
# tube defaults (256 train / 48 test videos of 2 s, actor_states='per_video',
# jump_phase='random') every actor keeps its class for the whole video: one
# tube per actor over the whole video, as in JHMDB-21's trimmed clips.
#
# Made by (the defaults of the tube generator):
#   python tools/data/generate_synthetic_tubes.py \
#       --out-dir data/synthetic_tubes --no-demo
# mmengine reads the variables below when it reads this file: a child config
# overrides the dataloader / evaluator fields, not data_root.
dataset_type = 'TubeDataset'
data_root = 'data/synthetic_tubes'
ann_file = f'{data_root}/annotations/tubes_GT.pkl'
frames_root = f'{data_root}/rawframes'
filename_tmpl = 'img_{:05d}.jpg'
num_classes = 4
# the pickle's labels in order (TubeDataset checks them): the demo and
# the inference API name the model's columns from them
classes = ('stand', 'crouch', 'walk', 'jump')

# 8 frames x interval 2 = 1 s at 16 fps; clamped at the video ends
clip_len = 8
frame_interval = 2
# every 8th annotated frame of a training video (4 per 2-s video: many
# actors at few keyframes each, consecutive frames being near duplicates);
# every frame of a test video (the protocol)
keyframe_stride = 8

train_batch_size = 8
val_batch_size = 1
num_workers = 0  # 2-core CPU

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(
        type='SampleTubeFrames',
        clip_len=clip_len,
        frame_interval=frame_interval),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),  # all 4 classes are symmetric
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleTubeFrames',
        clip_len=clip_len,
        frame_interval=frame_interval,
        test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
test_pipeline = val_pipeline

dataset_common = dict(
    type=dataset_type,
    ann_file=ann_file,
    num_classes=num_classes,
    classes=classes,
    filename_tmpl=filename_tmpl,
    start_index=1,
    data_prefix=dict(img=frames_root))

train_dataloader = dict(
    batch_size=train_batch_size,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        pipeline=train_pipeline,
        keyframe_stride=keyframe_stride,
        **dataset_common))
val_dataloader = dict(
    batch_size=val_batch_size,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=val_pipeline, test_mode=True, **dataset_common))
test_dataloader = val_dataloader

# protocol='ucf_jhmdb': MOC-Detector's ACT.py, as for JHMDB-21 (each
# synthetic tube covers its whole video; docs/en/tube_protocols.md).
val_evaluator = dict(
    type='TubeMetric', ann_file=ann_file, classwise=True, protocol='ucf_jhmdb')
test_evaluator = val_evaluator
