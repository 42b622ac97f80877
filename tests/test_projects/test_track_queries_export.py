"""ONNX export of projects/track_queries' STMixerTracker: its predict
(track queries carried from keyframe to keyframe) is not the graph's, so
the tool refuses it unless --keyframe-only, which exports the keyframe
detector with a warning and verifies it against STMixer's predict."""
import os.path as osp

import pytest
import torch

from stmixer_mm.apis import init_detector
from stmixer_mm.apps.deployment import export_onnx, read_export_meta
from stmixer_mm.testing import repo_path, repo_root

REPO = repo_root()
TINY_CFG = repo_path('tests', 'data', 'configs', 'tiny_stmixer_tiny-ava.py')


def _export_tool():
    from stmixer_mm.apps.cli import export_onnx as tool
    return tool


TRACK_CFG = osp.join(REPO, 'projects', 'track_queries', 'configs',
                     'tiny_stmixer-track_tiny-ava.py')


@pytest.fixture(scope='module')
def track_checkpoint(tmp_path_factory):
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    torch.manual_seed(0)
    model = init_detector(TRACK_CFG)
    model.init_weights()
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
    path = tmp_path_factory.mktemp('onnx_track') / 'track.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


def test_a_tracker_is_refused_unless_keyframe_only(track_checkpoint, tmp_path,
                                                   capsys):
    """The graph is the keyframe detector: a tracker was exported without a
    word."""

    tool = _export_tool()
    out = str(tmp_path / 'track.onnx')
    argv = [TRACK_CFG, track_checkpoint, out, '--shape', '4', '64', '64']
    assert tool.main(argv) == 1
    err = capsys.readouterr().err
    assert 'the model is an STMixerTracker' in err
    assert 'the graph is the keyframe detector' in err
    assert '--keyframe-only' in err and not osp.exists(out)
    # the opt-in exports the keyframe detector, says so, and verifies it
    # against STMixer's predict
    assert tool.main(argv + ['--keyframe-only', '--verify']) == 0
    captured = capsys.readouterr()
    assert 'WARNING: the model is an STMixerTracker' in captured.err
    assert 'verify OK' in captured.out
    meta = read_export_meta(out)
    assert meta['keyframe_only'] is True
    assert meta['model_type'] == 'STMixerTracker'
    # the API
    model = init_detector(TRACK_CFG, track_checkpoint)
    with pytest.raises(ValueError, match='STMixerTracker'):
        export_onnx(model, str(tmp_path / 'api.onnx'), (4, 64, 64))
    # the plain detector is not marked
    plain = init_detector(TINY_CFG)
    from stmixer_mm.apps.deployment import keyframe_graph_differs
    assert keyframe_graph_differs(plain) is None
    assert keyframe_graph_differs(model) == 'STMixerTracker'
