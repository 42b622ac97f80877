"""A frame file missing inside a frame folder (issue 83): AVAActorDataset
and TubeDataset refuse the folder at build naming its first missing file
(mmaction2 clamped the AVA video to the frames before the gap and read
keyframe 902's clip as frames [12, 12, 12, 12]), and the data set doctor
names it instead of blaming the fps."""
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.dataset_doctor import check_dataset_config
from stmixer_mm.registry import DATASETS
from stmixer_mm.testing import repo_root

REPO = Path(repo_root())
TINY_AVA = REPO / 'tests' / 'data' / 'tiny_ava'
TINY_CFG = REPO / 'tests' / 'data' / 'configs' / 'tiny_stmixer_tiny-ava.py'
GAP = 'img_00013.jpg'


def _frames(folder: Path, n: int, tmpl: str, missing=()) -> None:
    """``n`` real 8x8 JPEGs ``tmpl.format(1..n)`` but the ``missing``."""
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        if tmpl.format(i) not in missing:
            img = np.full((8, 8, 3), 10 * i % 256, np.uint8)
            assert cv2.imwrite(str(folder / tmpl.format(i)), img)


def _ava(tmp_path: Path, missing=()) -> Path:
    """The tiny AVA csv with freshly written 24-frame folders (3 s at 8
    fps); syn_train_000 lacks the ``missing`` files."""
    root = tmp_path / 'ava'
    shutil.copytree(TINY_AVA / 'annotations', root / 'annotations')
    for video in ('syn_train_000', 'syn_train_001'):
        _frames(root / 'rawframes' / video, 24, 'img_{:05}.jpg',
                missing if video == 'syn_train_000' else ())
    return root


def _ava_cfg(root: Path) -> dict:
    return dict(
        type='AVAActorDataset',
        ann_file=f'{root}/annotations/train.csv',
        exclude_file=f'{root}/annotations/train_excluded_timestamps.csv',
        label_file=f'{root}/annotations/label_map.pbtxt',
        pipeline=[
            dict(
                type='SampleAVAFrames',
                clip_len=4,
                frame_interval=2,
                test_mode=True)
        ],
        num_classes=8,
        fps=8,
        timestamp_start=900,
        timestamp_end=903,
        start_index=1,
        data_prefix=dict(img=f'{root}/rawframes'))


def _clip(ds, video: str, timestamp: int) -> list:
    i = next(
        i for i in range(len(ds)) if ds.get_data_info(i)['video_id'] == video
        and ds.get_data_info(i)['timestamp'] == timestamp)
    return ds[i]['frame_inds'].tolist()


def test_ava_frame_folder_with_a_gap_is_refused_at_build(tmp_path):
    init_default_scope('mmaction')
    # the whole folder: keyframe 902's clip is frames 14..20
    ds = DATASETS.build(_ava_cfg(_ava(tmp_path / 'full')))
    assert _clip(ds, 'syn_train_000', 902) == [14, 16, 18, 20]
    # img_00013.jpg missing: refused, naming the folder and the file
    root = _ava(tmp_path / 'gap', missing=(GAP, ))
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(_ava_cfg(root))
    folder = root / 'rawframes' / 'syn_train_000'
    assert str(e.value).startswith(
        f'frame folder {folder}: frame file {GAP} is missing; 1 of the 24 '
        'files img_00001.jpg..img_00024.jpg expected up to the last frame '
        "file there (filename_tmpl='img_{:05}.jpg', start_index=1)"), str(
            e.value)
    # the first of several missing files is named, the next ones listed
    root = _ava(tmp_path / 'gaps', missing=('img_00020.jpg', GAP, 'x.txt'))
    with pytest.raises(
            FileNotFoundError,
            match=rf'frame file {GAP} is missing \(also img_00020.jpg\); '
            '2 of the 24 files'):
        DATASETS.build(_ava_cfg(root))


def test_ava_shorter_video_is_no_gap(tmp_path):
    """Frames missing at the end are a shorter video (clips clamped to its
    last frame), not a gap."""
    init_default_scope('mmaction')
    root = _ava(tmp_path, missing=[f'img_{i:05}.jpg' for i in range(21, 25)])
    ds = DATASETS.build(_ava_cfg(root))
    assert ds.frame_counts[str(root / 'rawframes' / 'syn_train_000')] == 20


def test_doctor_names_the_missing_frame_file(tmp_path):
    root = _ava(tmp_path, missing=(GAP, ))
    cfg = Config.fromfile(str(TINY_CFG))
    ds = cfg.train_dataloader.dataset
    ds.ann_file = str(root / 'annotations' / 'train.csv')
    ds.exclude_file = str(root / 'annotations' /
                          'train_excluded_timestamps.csv')
    ds.label_file = str(root / 'annotations' / 'label_map.pbtxt')
    ds.data_prefix = dict(img=str(root / 'rawframes'))
    report, built = check_dataset_config(cfg, ['train'])
    frames = [f for f in report.errors if f.check == 'frames']
    assert len(frames) == 1, [f.format() for f in report.findings]
    assert frames[0].video == 'syn_train_000'
    assert f'syn_train_000: frame file {GAP} is missing' in \
        frames[0].message
    # the data set refuses it with the same message (reported once), and
    # the fps is not blamed
    assert 'train' not in built
    assert not [f for f in report.findings if f.check in ('fps', 'build')], \
        [f.format() for f in report.findings]


def test_tube_frame_folder_with_a_gap_is_refused_at_build(tmp_path):
    tmpl = '{:05d}.jpg'
    gt = dict(
        labels=['run'],
        gttubes=dict(v1={
            0: [np.array([[f, 1, 1, 6, 6] for f in range(1, 25)], np.float32)]
        }),
        nframes=dict(v1=24),
        train_videos=[['v1']],
        test_videos=[['v1']],
        resolution=dict(v1=(8, 8)))
    ann = tmp_path / 'GT.pkl'
    ann.write_bytes(pickle.dumps(gt))
    cfg = dict(
        type='TubeDataset',
        ann_file=str(ann),
        pipeline=[],
        data_prefix=dict(img=str(tmp_path / 'frames')),
        filename_tmpl=tmpl,
        videos_in_both_splits='allow')
    init_default_scope('mmaction')
    _frames(tmp_path / 'frames' / 'v1', 24, tmpl, missing=('00013.jpg', ))
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(cfg)
    assert str(e.value).startswith(
        f"video 'v1' (in {ann}, \"nframes\" = 24): frame folder "
        f"{tmp_path / 'frames' / 'v1'}: frame file 00013.jpg is missing; 1 "
        "of the 24 files 00001.jpg..00024.jpg expected for the video's 24 "
        'frames'), str(e.value)
    cv2.imwrite(
        str(tmp_path / 'frames' / 'v1' / '00013.jpg'),
        np.zeros((8, 8, 3), np.uint8))
    assert len(DATASETS.build(cfg)) == 24
