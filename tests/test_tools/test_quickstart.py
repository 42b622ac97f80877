"""``tools/quickstart.sh`` and its config agree with the tools they call.

The quick start itself takes ~10 minutes (measured in
``configs/quickstart/README.md``); these checks take a second: the script
names an existing config, passes the data generator arguments its CLI
accepts, runs the demo on the video the generator writes, and the config's
data settings, class count and temporal length match the generator and the
backbone, so that one training step runs on a clip of the generated size.
"""
import glob
import os.path as osp
import re
import shlex

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.cli import generate_synthetic_ava as gen
from stmixer_mm.apps.data_gen.synthetic_ava import (CLASSES,
                                                    SyntheticAVASettings,
                                                    dataset_paths)
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_root

REPO = repo_root()
SCRIPT = osp.join(REPO, 'tools', 'quickstart.sh')


@pytest.fixture(scope='module')
def script():
    with open(SCRIPT) as f:
        text = f.read()
    variables = dict(re.findall(r'^(CFG|DATA|WORK|OUT)=(\S+)$', text, re.M))
    assert set(variables) == {'CFG', 'DATA', 'WORK', 'OUT'}, variables
    gen = re.search(r'^GEN_ARGS=\((.*?)\)$', text, re.M | re.S)
    assert gen, 'GEN_ARGS=(...) not found in tools/quickstart.sh'
    gen_args = [
        a.replace('$DATA', variables['DATA'])
        for a in shlex.split(gen.group(1).replace('"', ''))
    ]
    return dict(text=text, gen_args=gen_args, **variables)


@pytest.fixture(scope='module')
def cfg(script):
    return Config.fromfile(osp.join(REPO, script['CFG']))


def test_script_calls_existing_tools(script):
    assert osp.isfile(osp.join(REPO, script['CFG']))
    for tool in re.findall(r'"\$PY" (tools/\S+\.py)', script['text']):
        assert osp.isfile(osp.join(REPO, tool)), tool


def test_generator_arguments_and_demo_path(script):
    args = gen.parse_args(script['gen_args'])  # SystemExit on a bad flag
    assert args.out_dir == script['DATA']
    assert not args.no_demo
    demo = dataset_paths(args.out_dir)['demo_video']
    demo_call = re.search(r'tools/demo\.py "([^"]+)"', script['text'])
    assert demo_call, 'tools/demo.py call not found'
    assert demo_call.group(1).replace('$DATA', script['DATA']) == demo


def test_config_matches_generated_data(script, cfg):
    args = gen.parse_args(script['gen_args'])
    d = SyntheticAVASettings()
    for split in ('train', 'val'):
        ds = cfg[f'{split}_dataloader'].dataset
        assert ds.ann_file == f'{args.out_dir}/annotations/{split}.csv'
        assert ds.data_prefix.img == f'{args.out_dir}/rawframes'
        assert ds.fps == args.fps == d.fps
        assert ds.timestamp_start == args.timestamp_start
        assert ds.timestamp_end == args.timestamp_start + \
            args.seconds_per_video
        assert ds.start_index == args.start_index
        assert ds.num_classes == len(CLASSES) + 1
        # the keyframes with nobody in them are generated and trained on
        assert getattr(args, f'num_empty_{split}_videos') > 0
        assert ds.empty_keyframe_file == \
            f'{args.out_dir}/annotations/{split}_empty_keyframes.csv'
    assert cfg.test_dataloader.dataset.empty_keyframe_file == \
        cfg.val_dataloader.dataset.empty_keyframe_file
    assert cfg.val_evaluator.num_classes == len(CLASSES) + 1
    head = cfg.model.roi_head.stage_head
    assert head.num_actions == len(CLASSES)
    sample = cfg.train_dataloader.dataset.pipeline[0]
    assert sample.type == 'SampleAVAFrames'
    # no temporal stride in the backbone: T of every level = clip_len
    assert cfg.model.backbone.conv1_stride_t == 1
    assert cfg.model.backbone.pool1_stride_t == 1
    assert head.sampling_mixing.temporal_points == sample.clip_len


def test_one_training_step_on_a_generated_size_clip(cfg):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    from mmaction.structures import ActionDataSample
    h, w = SyntheticAVASettings().height, SyntheticAVASettings().width
    T = cfg.train_dataloader.dataset.pipeline[0].clip_len
    # (boxes in pixels, AVA label ids of each box) of two clips
    gts = [([[20., 40., 44., 120.]], [[1, 3]]),
           ([[60., 30., 84., 110.], [90., 32., 112., 112.]], [[1, 7], [2]])]
    samples = []
    for boxes, labels in gts:
        s = ActionDataSample()
        s.set_metainfo(dict(img_shape=(h, w)))
        multi_hot = torch.zeros(len(boxes), len(CLASSES) + 1)
        for i, ids in enumerate(labels):
            multi_hot[i, ids] = 1
        s.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes), labels=multi_hot)
        samples.append(s)
    losses = model.loss(torch.randn(2, 3, T, h, w), samples)
    assert len(losses) == 4 * cfg.model.roi_head.num_stages
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_visualize_results_on_a_test_dump(tools, trained, tested, tmp_path):
    """The pictures step of the quick start on the tiny config's run."""
    import cv2
    work, _ = trained
    _, dump = tested
    zoom = 2
    proc = tools.python_tool('analysis_tools/visualize_results.py',
                             tools.TINY_CFG, '--predictions',
                             str(dump), '--work-dir', str(work), '--out-dir',
                             str(tmp_path), '--zoom', str(zoom))
    curves = tmp_path / 'training_curves.png'
    grid = tmp_path / 'val_grid.png'
    assert f'wrote {curves}' in proc.stdout
    assert f'wrote {grid}' in proc.stdout
    assert cv2.imread(str(curves)) is not None
    img = cv2.imread(str(grid))
    frame = cv2.imread(
        sorted(
            glob.glob(
                osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000',
                         '*.jpg')))[0])
    h, w = frame.shape[:2]
    # 4 tiles a row; a tile is ground truth beside predictions, each the
    # keyframe zoomed and scaled up to a 360-pixel short side (the
    # visualizer's default), legend below, 2-pixel border
    s = max(zoom, 360 / (zoom * min(h, w)) * zoom)
    assert img.shape[1] % 4 == 0
    assert img.shape[1] // 4 >= 2 * round(s * w) + 4
    assert img.shape[0] > round(s * h) + 4


def test_quickstart_keeps_earlier_runs(quickstart_checkout, tmp_path):
    """The script used to ``rm -rf work_dirs/quickstart`` before training.
    Run it with stand-ins for the set-up and the tools (they record their
    calls and write an empty checkpoint): every run gets new folders and a
    file of an earlier run survives."""
    import os
    import subprocess
    import time
    repo = quickstart_checkout
    old = repo / 'work_dirs' / 'quickstart' / 'epoch_12.pth'
    old.parent.mkdir(parents=True)
    old.write_text('an earlier run')
    calls = tmp_path / 'calls.txt'
    env = dict(os.environ, CALLS=str(calls))
    env.pop('STMIXER_VENV', None)
    for _ in range(2):
        subprocess.run(['bash', str(repo / 'tools' / 'quickstart.sh')],
                       cwd=repo,
                       env=env,
                       check=True,
                       capture_output=True)
        time.sleep(1.1)  # the run folders are named by the second
    assert old.read_text() == 'an earlier run'
    runs = sorted(p.name for p in old.parent.iterdir() if p.is_dir())
    assert len(runs) == 2
    for run in runs:
        assert (old.parent / run / 'epoch_1.pth').exists()
        assert (repo / 'outputs' / 'quickstart' / run).is_dir()
    trains = [
        c for c in calls.read_text().splitlines()
        if c.startswith('tools/train.py')
    ]
    assert len(trains) == 2 and runs[0] in trains[0]
