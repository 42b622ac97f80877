# The STMixer-T part of the tubelet configs of stmixer_tubes/ (tubelet
# queries, docs/en/tubelets.md), written once: what each old-style
# configs/stmixer_tubes/stmixer-tubelet_*.py repeats on top of its STMixer-K
# config. The queries predict a box on each of `num_frames` output frames of
# the clip, one person score and the tubelet's actions (STMixerTubeletDecoder
# / STMixerTubeletStageHead); training: each clip's GT as tubelets
# (LoadTubeletTargets) matched by TubeletHungarianAssigner; test: one clip
# every 8 frames (TubeDataset test_clip_stride), tubelets linked into video
# tubes (TubeMetric(tubes='tubelets')).
#
# A base is read on its own (it cannot see the STMixer-K config), so the
# changes are data in `tubelet`, which a tubelet config applies to the
# STMixer-K config it imports and then deletes (not a config entry):
#
#     with read_base():
#         from .._base_.tubelets import num_frames, tubelet
#         from .stmixer_vit_base_p16_..._jhmdb21_rgb import *
#
#     model.update(tubelet.model)
#     meta_keys = tubelet.meta_keys
#     train_pipeline = [train_pipeline[0], *tubelet.train_steps]  # K sampler
#     ...
#     del tubelet
from mmaction.datasets.transforms import Flip, FormatShape, Resize

from stmixer_mm.datasets.transforms import (CheckedRawFrameDecode,
                                            LoadTubeletTargets,
                                            PackTubeletInputs,
                                            RandomShortSideResize)
from stmixer_mm.models import (STMixerTubeletDecoder, STMixerTubeletStageHead,
                               TubeletHungarianAssigner)

num_frames = 8  # boxes per tubelet (the decoder's feature frames)
meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp',
             'tubelet_frames')

tubelet = dict(
    model=dict(
        roi_head=dict(
            type=STMixerTubeletDecoder,
            stage_head=dict(
                type=STMixerTubeletStageHead, num_frames=num_frames)),
        train_cfg=dict(
            rcnn=dict(assigner=dict(type=TubeletHungarianAssigner)))),
    meta_keys=meta_keys,
    # the pipelines after the STMixer-K config's frame sampler
    train_steps=[
        dict(type=LoadTubeletTargets, num_frames=num_frames),
        dict(type=CheckedRawFrameDecode),
        dict(
            type=RandomShortSideResize, scales=[256, 320], max_long_edge=1333),
        dict(type=Flip, flip_ratio=0.5),
        dict(type=FormatShape, input_format='NCTHW', collapse=True),
        dict(type=PackTubeletInputs, meta_keys=meta_keys)
    ],
    val_steps=[
        dict(type=LoadTubeletTargets, num_frames=num_frames),
        dict(type=CheckedRawFrameDecode),
        dict(type=Resize, scale=(1333, 256), keep_ratio=True),
        dict(type=FormatShape, input_format='NCTHW', collapse=True),
        dict(type=PackTubeletInputs, meta_keys=meta_keys)
    ],
    train_dataset=dict(with_tubelets=True),
    test_dataset=dict(with_tubelets=True, test_clip_stride=8),
    evaluator=dict(tubes='tubelets'))
