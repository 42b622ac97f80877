"""The tube-benchmark configs agree with their data, metric and model.

(Every config is also loaded and its model built by ``test_configs.py``.)
"""
from pathlib import Path

import pytest
from mmengine.config import Config

from stmixer_mm.datasets.class_names import dataset_family
from stmixer_mm.testing import repo_root

ROOT = Path(repo_root())
TUBE_CONFIGS = sorted((ROOT / 'configs' / 'stmixer_tubes').glob('*.py')) + [
    ROOT / 'configs' / 'quickstart' /
    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py',
    ROOT / 'configs' / 'quickstart' /
    'stmixer-tubelet_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'
]
TUBELET_CONFIGS = [p for p in TUBE_CONFIGS if 'stmixer-tubelet_' in p.name]
NUM_CLASSES = dict(jhmdb21=21, ucf101=24, multisports=66, synthetic=4)


def _dataset_key(name):
    return next(k for k in NUM_CLASSES if k in name)


@pytest.mark.parametrize('path', TUBE_CONFIGS, ids=lambda p: p.name)
def test_tube_config(path):
    cfg = Config.fromfile(str(path))
    num = NUM_CLASSES[_dataset_key(path.name)]
    assert cfg.model.roi_head.stage_head.num_actions == num
    assert cfg.model.test_cfg.rcnn.multiply_person_score
    train = cfg.train_dataloader.dataset
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        ds = loader.dataset
        assert dataset_family(ds.type) == 'TubeDataset'
        assert ds.num_classes == num
        assert ds.ann_file == train.ann_file
        assert ds.get('split', 0) == train.get('split', 0)
        sampler = ds.pipeline[[t['type']
                               for t in ds.pipeline].index('SampleTubeFrames')]
        # the temporal length the decoder samples from
        stem = cfg.model.backbone.type
        clip = sampler.clip_len
        t = dict(
            VisionTransformer=clip // 2,  # tubelet 2
            STMixerVisionTransformer=clip // 2,
            ResNet3dSlowFastMultiLevel=clip // 4,  # slow path
        ).get(stem.split('.')[-1], clip)
        assert t == cfg.model.roi_head.stage_head.sampling_mixing.\
            temporal_points, (stem, clip)
    assert cfg.val_dataloader.dataset.test_mode
    assert not train.get('test_mode', False)
    for ev in (cfg.val_evaluator, cfg.test_evaluator):
        if isinstance(ev, list):  # e.g. a project's TubeMetric + its own
            (ev, ) = [e for e in ev if e.type == 'TubeMetric']
        assert ev.type == 'TubeMetric'
        assert ev.ann_file == train.ann_file
        assert ev.get('split', 0) == train.get('split', 0)
    assert cfg.default_hooks.checkpoint.save_best == 'mAP/frameAP@0.5'


def test_every_tube_benchmark_has_a_tubelet_config():
    names = {p.name for p in TUBELET_CONFIGS}
    for data in ('jhmdb21', 'ucf101-24', 'multisports'):
        assert any('vit-base' in n and data in n for n in names), data
    for data in ('jhmdb21', 'ucf101-24'):
        assert any('slowfast-r50' in n and data in n for n in names), data


@pytest.mark.parametrize('path', TUBELET_CONFIGS, ids=lambda p: p.name)
def test_tubelet_config(path):
    """Tubelet model, targets and metric agree: the tubelet length divides
    the clip and the feature frames, the test clips cover every frame."""
    cfg = Config.fromfile(str(path))
    roi = cfg.model.roi_head
    assert roi.type == 'STMixerTubeletDecoder'
    assert roi.stage_head.type == 'STMixerTubeletStageHead'
    assert cfg.model.train_cfg.rcnn.assigner.type == \
        'TubeletHungarianAssigner'
    num_frames = roi.stage_head.num_frames
    assert roi.stage_head.sampling_mixing.temporal_points % num_frames == 0
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        ds = loader.dataset
        assert ds.with_tubelets
        types = [t['type'] for t in ds.pipeline]
        sampler = ds.pipeline[types.index('SampleTubeFrames')]
        targets = ds.pipeline[types.index('LoadTubeletTargets')]
        assert types.index('LoadTubeletTargets') == \
            types.index('SampleTubeFrames') + 1
        assert types[-1] == 'PackTubeletInputs'
        assert targets.num_frames == num_frames
        assert sampler.clip_len % num_frames == 0
    ds = cfg.test_dataloader.dataset
    sampler = ds.pipeline[[t['type']
                           for t in ds.pipeline].index('SampleTubeFrames')]
    r = sampler.clip_len // num_frames
    # frames from the first to the last output frame of a clip
    span = (num_frames - 1) * r * sampler.frame_interval + 1
    assert ds.test_clip_stride <= span
    assert cfg.test_evaluator.tubes == 'tubelets'
