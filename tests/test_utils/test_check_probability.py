"""Every probability threshold is checked where it is read
(``check_probability``): a value above 1 (or below 0) silently emptied
results before (issue 46)."""
import argparse

import pytest

from stmixer_mm.utils.settings import ConfigSettingError, check_probability

BAD = [1.5, -0.1, float('nan'), float('inf'), 'high', None, True]


def test_check_probability():
    for ok in (0, 0.0, 0.3, 1, 1.0):
        assert check_probability(ok, 'x') == float(ok)
    for bad in BAD:
        with pytest.raises(ConfigSettingError, match=r'^my_thr: expected'):
            check_probability(bad, 'my_thr')


@pytest.mark.parametrize('kwargs', [
    dict(trackeval_score_thr=1.5),
    dict(score_thr=2.0),
    dict(score_thr=-1),
])
def test_tube_metric_thresholds(kwargs):
    """Checked before the annotation file is read (trackeval_score_thr=1.5
    gave HOTA 0 and IDF1 0)."""
    from stmixer_mm.evaluation import TubeMetric
    name = next(iter(kwargs))
    with pytest.raises(
            ConfigSettingError,
            match=rf'TubeMetric: {name}: expected a float'):
        TubeMetric(ann_file='no_such_file.pkl', **kwargs)


def test_visualization_hook_threshold():
    from stmixer_mm.engine.hooks import ActionDetVisualizationHook
    with pytest.raises(
            ConfigSettingError, match='ActionDetVisualizationHook: score_thr'):
        ActionDetVisualizationHook(score_thr=30)


def test_cli_threshold_flags():
    from stmixer_mm.apps.cli.demo import parse_args, unit_float
    assert unit_float('0.25') == 0.25
    for bad in ('1.5', '-1', 'nan', 'x'):
        with pytest.raises(argparse.ArgumentTypeError, match=r'\[0, 1\]'):
            unit_float(bad)
    for flag in ('--score-thr', '--person-thr'):
        with pytest.raises(SystemExit) as e:
            parse_args(['video.mp4', 'config.py', 'ckpt.pth', flag, '1.5'])
        assert e.value.code == 2


@pytest.mark.parametrize('kwargs, name', [
    (dict(iou_thr=1.5), 'iou_thr'),
    (dict(iou_thr=0), 'iou_thr'),
    (dict(video_iou_thrs=(0.2, 1.5)), r'video_iou_thrs\[1\]:'),
])
def test_tube_metric_iou_thresholds(kwargs, name):
    """An IoU threshold above 1 matches nothing (every AP 0, exit 0)."""
    from stmixer_mm.evaluation import TubeMetric
    with pytest.raises(
            ConfigSettingError,
            match=rf'TubeMetric: {name}:? expected a float'):
        TubeMetric(ann_file='no_such_file.pkl', **kwargs)


@pytest.mark.parametrize('key, value', [('min_score', 1.5), ('link_iou', 0),
                                        ('nms_3d_iou', 2.0), ('nms_iou', 'x')])
def test_link_cfg_thresholds(key, value):
    """link_cfg's thresholds were merged over the defaults unchecked
    (min_score=1.5: no tube, video-mAP 0)."""
    from stmixer_mm.evaluation.functional.protocol_utils import link_settings
    with pytest.raises(ConfigSettingError, match=f'link_cfg.{key}'):
        link_settings('ucf_jhmdb', {key: value})
    values, _, _ = link_settings('multisports', dict(min_score=0.2))
    assert values['min_score'] == 0.2 and values['link_iou'] == 0.5


def test_parts_built_in_code_take_paths_and_arrays(tmp_path):
    """The build-time checks accept what code passes (a path object, a
    numpy array) where configs hold a string / list."""
    from pathlib import Path

    import numpy as np

    from stmixer_mm.evaluation import TubeMetric
    from stmixer_mm.models import STMixerDataPreprocessor
    with pytest.raises(FileNotFoundError):  # the check passed; no file
        TubeMetric(ann_file=Path(tmp_path / 'gt.pkl'), protocol='ucf_jhmdb')
    STMixerDataPreprocessor(
        mean=np.array([1.0, 2.0, 3.0]), std=np.array([1.0, 1.0, 1.0]))
