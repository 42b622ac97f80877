"""Tests of the configs under ``configs/``.

- every config (``_base_`` excluded) loads with mmengine's ``Config`` and
  its model builds: at full size on the ``meta`` device (no memory, no
  initialisation, so it takes a fraction of a second) and, with the big
  backbones shrunk, on the CPU;
- the full-size official models run a forward pass on the meta device with
  the input their data pipeline produces (so clip length, temporal points,
  neck channels and strides agree), and their sizes are pinned;
- the official settings carry the numbers of the reference (section 7);
- every variant differs from its parent only in the intended fields;
- the data and evaluator fields point at mmaction2's ``data/ava`` layout;
- the layer-wise LR decay variant builds its optimizer wrapper, and the
  ViT's activation checkpointing names real modules and keeps the maths.
"""
import copy
import functools
import math
from operator import attrgetter
from pathlib import Path
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import turn_on_activation_checkpointing
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_root

ROOT = Path(repo_root())
CONFIG_DIR = ROOT / 'configs'
ALL_CONFIGS = sorted(
    p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)
STMIXER = CONFIG_DIR / 'stmixer'


def _ids(paths):
    return [str(p.relative_to(CONFIG_DIR)) for p in paths]


def stmixer_cfg(name):
    return STMIXER / name


VIT = ('stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_'
       'ava22-rgb.py')
VIT2 = ('stmixer_vit-base-p16_videomaev2-k710-k400-pre_8xb1-16x4x1-12e-'
        'adamw_ava22-rgb.py')
SF50 = 'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py'
SF101 = 'stmixer_slowfast-r101-nl_k600-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py'
SO50 = 'stmixer_slowonly-r50_k400-pre_8xb2-4x16x1-12e-adamw_ava22-rgb.py'
OFFICIAL = [SO50, SF50, SF101, VIT, VIT2]
VIT_SUFFIX = VIT[len('stmixer_'):]
SF_SUFFIX = SF50[len('stmixer_'):]
LAYER_DECAY = VIT.replace('-adamw_', '-adamw-layer-decay_')

# Parameters of the full-size official models (backbone + neck + query
# generator + 6 decoder stages). The decoder alone has 159.2M (the
# AdaptiveMixing parameter generators and output projections dominate); it
# is the same in all five up to temporal_points (4 for SlowOnly, 8 else).
PARAM_COUNTS = {
    SO50: 184_495_476,
    SF50: 194_104_060,
    SF101: 219_617_660,  # non-local conv_out biases (PySlowFast's block)
    VIT: 255_856_372,
    VIT2: 255_856_372,
}

# variant -> (parent, dotted keys that may differ); lists are indexed
VARIANTS = {
    f'stmixer-1stage_{VIT_SUFFIX}': (VIT, {'model.roi_head.num_stages'}),
    f'stmixer-3stages_{VIT_SUFFIX}': (VIT, {'model.roi_head.num_stages'}),
    f'stmixer-16points_{VIT_SUFFIX}':
    (VIT, {'model.roi_head.stage_head.sampling_mixing.spatial_points'}),
    f'stmixer-64points_{VIT_SUFFIX}':
    (VIT, {'model.roi_head.stage_head.sampling_mixing.spatial_points'}),
    f'stmixer-50queries_{VIT_SUFFIX}': (VIT, {'model.rpn_head.num_queries'}),
    f'stmixer-300queries_{VIT_SUFFIX}': (VIT, {'model.rpn_head.num_queries'}),
    f'stmixer-no-temporal_{VIT_SUFFIX}':
    (VIT, {'model.roi_head.stage_head.action_branches.1'}),
    f'stmixer-no-spatial_{VIT_SUFFIX}': (VIT, {
        'model.roi_head.stage_head.action_branches.0',
        'model.roi_head.stage_head.action_branches.1'
    }),
    f'stmixer-focal_{VIT_SUFFIX}': (VIT, {
        'model.roi_head.stage_head.loss_person.type',
        'model.roi_head.stage_head.loss_person.use_sigmoid',
        'model.roi_head.stage_head.loss_person.class_weight',
        'model.roi_head.stage_head.loss_person.gamma',
        'model.roi_head.stage_head.loss_person.alpha',
        'model.train_cfg.rcnn.assigner.match_costs.0.type',
    }),
    LAYER_DECAY: (VIT, {
        'optim_wrapper.constructor', 'optim_wrapper.paramwise_cfg.decay_rate',
        'optim_wrapper.paramwise_cfg.decay_type',
        'optim_wrapper.paramwise_cfg.num_layers'
    }),
    f'stmixer-fpn_{SF_SUFFIX}': (SF50, 'model.neck.'),
    f'stmixer-pafpn_{SF_SUFFIX}': (SF50, 'model.neck.'),
    f'stmixer-fpn_{VIT_SUFFIX}': (VIT, 'model.neck.'),
    VIT2: (VIT, {
        'pretrained', 'model.init_cfg.checkpoint',
        'model.roi_head.stage_head.loss_action.loss_weight'
    }),
    SF101: (SF50, {
        'pretrained',
        'model.init_cfg.checkpoint',
        'model.backbone.slow_pathway.depth',
        'model.backbone.slow_pathway.fusion_kernel',
        'model.backbone.slow_pathway.inflate.2',
        'model.backbone.slow_pathway.non_local',
        'model.backbone.slow_pathway.non_local_cfg',
        'model.backbone.fast_pathway.depth',
        'model.backbone.fast_pathway.inflate.2',
    }),
}

# Large-ViT configs (sharded training, docs/en/large_backbones.md): name ->
# (embed dims, depth, patch, strategy type)
LARGE_VIT = {
    'stmixer_vit-large-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw-layer-'
    'decay-fsdp_ava22-rgb.py': (1024, 24, 16, 'ShardedStrategy'),
    'stmixer_vit-large-p16_videomae-k700-pre_8xb1-16x4x1-12e-adamw-layer-'
    'decay-fsdp_ava22-rgb.py': (1024, 24, 16, 'ShardedStrategy'),
    'stmixer_vit-large-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw-layer-'
    'decay-deepspeed_ava22-rgb.py': (1024, 24, 16, 'DeepSpeedStrategy'),
    'stmixer_vit-huge-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw-layer-'
    'decay-fsdp_ava22-rgb.py': (1280, 32, 16, 'ShardedStrategy'),
    'stmixer_vit-giant-p14_videomaev2-k710-pre_8xb1-16x4x1-12e-adamw-layer-'
    'decay-fsdp_ava22-rgb.py': (1408, 40, 14, 'ShardedStrategy'),
}
VIT_WIDTHS = (768, 1024, 1280, 1408)


@functools.lru_cache(maxsize=None)
def _load(path):
    return Config.fromfile(str(path))


def load(path):
    """The config at ``path`` (parsed once per session; a copy)."""
    return copy.deepcopy(_load(Path(path)))


def flatten(obj, prefix=''):
    """Dotted keys -> leaf values; list/tuple items get their index."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f'{prefix}{k}.'))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f'{prefix}{i}.'))
        if not obj:
            out[prefix[:-1]] = type(obj)()
    else:
        out[prefix[:-1]] = obj
    return out


def clip_settings(cfg):
    sampler = cfg.train_dataloader.dataset.pipeline[0]
    assert sampler['type'] == 'SampleAVAFrames'
    return sampler['clip_len'], sampler['frame_interval']


# ----------------------------------------------------------------------
# shrinking the big backbones for CPU builds
# ----------------------------------------------------------------------
TINY_WIDTH = {
    (288, 576, 1152, 2304): [18, 36, 72, 144],  # SlowFast, base 16 / 2
    (256, 512, 1024, 2048): [8, 16, 32, 64],  # SlowOnly, base 8
}
TINY_C = 32  # decoder / neck width


def _per_block(value):
    """A per-block tuple of a deep stage -> 2 blocks (first, any other)."""
    if isinstance(value, (list, tuple)):
        return [value[0], max(value[1:])]
    return value


def _shrink_neck(neck, vit_dims):
    if isinstance(neck, list):
        return [_shrink_neck(n, vit_dims) for n in neck]
    if not isinstance(neck, dict):
        return neck
    neck = {k: _shrink_neck(v, vit_dims) for k, v in neck.items()}
    if neck.get('out_channels') == 256:
        neck['out_channels'] = TINY_C
    in_channels = neck.get('in_channels')
    if isinstance(in_channels, (list, tuple)):
        if tuple(in_channels) in TINY_WIDTH:
            neck['in_channels'] = TINY_WIDTH[tuple(in_channels)]
        elif set(in_channels) == {256}:
            neck['in_channels'] = [TINY_C] * len(in_channels)
    elif in_channels in VIT_WIDTHS and vit_dims:
        neck['in_channels'] = vit_dims
    return neck


def tiny_model(model_cfg):
    """The model config with a small backbone, neck and decoder width.

    Everything a variant changes (stages, queries, points, branches, losses,
    neck types) is kept; only widths and depths shrink. Models that are
    already small (e.g. the quick-start's) are left as they are.
    """
    cfg = copy.deepcopy(model_cfg)
    backbone = cfg['backbone']
    kind = backbone['type'].split('.')[-1]
    if kind == 'ResNet3dSlowFastMultiLevel':
        full_size = backbone['slow_pathway'].get('depth', 50) >= 50
    else:
        full_size = backbone.get(
            'depth', 0) >= 50 or backbone.get('embed_dims') in VIT_WIDTHS
    if not full_size:
        return cfg
    vit_dims = None
    if kind in ('VisionTransformer', 'STMixerVisionTransformer'):
        vit_dims = 64
        backbone.update(embed_dims=vit_dims, depth=1, num_heads=2)
    elif kind == 'ResNet3dSlowFastMultiLevel':
        for name, base in (('slow_pathway', 16), ('fast_pathway', 2)):
            pathway = backbone[name]
            pathway.update(depth=18, base_channels=base)
            for key in ('inflate', 'non_local'):
                if key in pathway:
                    pathway[key] = [_per_block(v) for v in pathway[key]]
    elif kind in ('ResNet3dSlowOnly', 'STMixerResNet3dSlowOnly'):
        backbone.update(depth=18, base_channels=8)
    else:
        raise NotImplementedError(f'no tiny version of {kind}')
    cfg['neck'] = _shrink_neck(cfg['neck'], vit_dims)
    cfg['roi_head']['stage_head'].update(
        hidden_channels=TINY_C, feedforward_channels=128)
    cfg.pop('init_cfg', None)  # no download
    return cfg


TINY_SIZE = 32  # input frames of the CPU runs


def _sample(img_shape=(TINY_SIZE, TINY_SIZE), timestamp=None):
    from mmaction.structures import ActionDataSample
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=img_shape))
    labels = torch.zeros(1, 81)
    labels[0, [12, 80]] = 1
    s.gt_instances = InstanceData(
        bboxes=torch.tensor([[4., 2., 20., 30.]]), labels=labels)
    if timestamp is not None:  # a keyframe of a sequence, one person
        s.set_metainfo(dict(video_id='v', timestamp=timestamp))
        s.gt_instances.track_ids = torch.tensor([5])
    return s


# ----------------------------------------------------------------------
# every config
# ----------------------------------------------------------------------
def test_config_folders_are_found():
    names = {p.name for p in ALL_CONFIGS}
    assert set(OFFICIAL) <= names
    assert set(VARIANTS) <= names
    # every STMixer config is an official setting or a documented variant
    assert {p.name
            for p in STMIXER.glob('*.py')
            } == set(OFFICIAL) | set(VARIANTS) | set(LARGE_VIT)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=_ids(ALL_CONFIGS))
def test_config_loads_with_its_scopes_and_the_plugin(path):
    """Every config's model is built on the meta device by the pre-run
    check (tests/test_utils/test_settings.py,
    ``test_every_shipped_config_passes``), its parameters pinned by
    ``test_every_config_builds_the_same_parameters``
    (tests/test_models/test_detectors/test_stmixer_regression.py)."""
    cfg = load(path)
    assert cfg.default_scope == 'mmaction'
    assert cfg.model['_scope_'] == 'mmdet'
    assert 'stmixer_mm' in cfg.custom_imports['imports']
    assert cfg.model.type == 'STMixer'
    if cfg.model.get('graph_train_cfg') is not None:
        # a DDP rank compiling a batch shape keeps the others waiting in
        # the all-reduce: minutes (docs/en/gpu.md), beyond NCCL's default
        assert cfg.env_cfg.dist_cfg.get('timeout', 0) >= 1800, path


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=_ids(ALL_CONFIGS))
def test_frames_are_decoded_with_checked_decoding(path):
    """Every shipped pipeline that reads frame files decodes them with
    CheckedRawFrameDecode (a bad frame names its file, video and keyframe)
    instead of mmaction2's RawFrameDecode (OpenCV's bare message)."""
    cfg = load(path)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader is None:
            continue
        types = [t['type'] for t in loader['dataset']['pipeline']]
        assert 'RawFrameDecode' not in types, (name, types)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=_ids(ALL_CONFIGS))
def test_tiny_model_builds_on_cpu(path):
    cfg = load(path)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(tiny_model(cfg.model))
    n = sum(p.numel() for p in model.parameters())
    assert 0 < n < 40e6, n


def _cpu_linspace():
    """mmaction2's VisionTransformer reads its drop-path rates with
    ``torch.linspace(...).item()``, which meta tensors cannot do; compute
    that one on the CPU while the model is built on the meta device."""
    linspace = torch.linspace

    def cpu_linspace(*args, **kwargs):
        kwargs.setdefault('device', 'cpu')
        return linspace(*args, **kwargs)

    return mock.patch.object(torch, 'linspace', cpu_linspace)


# ----------------------------------------------------------------------
# the five official settings
# ----------------------------------------------------------------------
@pytest.fixture(scope='module')
def official_meta_models():
    """Full-size official models, built once on the meta device."""
    models = {}
    for name in OFFICIAL:
        cfg = load(stmixer_cfg(name))
        # (module scope: the per-test scope isolation of conftest.py does
        # not cover this fixture, so do not leave a default scope behind)
        with DefaultScope.overwrite_default_scope(cfg.default_scope), \
                torch.device('meta'), _cpu_linspace():
            models[name] = (cfg, MODELS.build(cfg.model))
    return models


@pytest.mark.parametrize('name', OFFICIAL)
def test_official_full_size_forward_on_meta(name, official_meta_models):
    """Clip length (pipeline) -> backbone -> neck -> decoder agree at the
    real sizes; the input is a test-time frame (short side 256)."""
    cfg, model = official_meta_models[name]
    clip_len, _ = clip_settings(cfg)
    t = cfg.model.roi_head.stage_head.sampling_mixing.temporal_points
    x = torch.empty(2, 3, clip_len, 256, 320, device='meta')
    with torch.no_grad():
        feats = model.extract_feat(x)
        outs = model._forward(x)
    assert [tuple(f.shape) for f in feats] == [(2, 256, t, 256 // s, 320 // s)
                                               for s in (4, 8, 16, 32)]
    assert len(outs) == 6
    person, action, boxes = outs[-1]
    assert person.shape == (2, 100, 2)
    assert action.shape == (2, 100, 80)
    assert boxes.shape == (2, 100, 4)


@pytest.mark.parametrize('name', [SF50, SO50])
def test_cnn_full_size_forward_on_meta_any_width(name, official_meta_models):
    """The CNNs take any frame size, e.g. a 4:3 AVA frame (256 x 341)."""
    cfg, model = official_meta_models[name]
    clip_len, _ = clip_settings(cfg)
    x = torch.empty(1, 3, clip_len, 256, 341, device='meta')
    with torch.no_grad():
        feats = model.extract_feat(x)
    assert [f.shape[-1]
            for f in feats] == [math.ceil(341 / s) for s in (4, 8, 16, 32)]


@pytest.mark.parametrize('width', [341, 455])
def test_vit_full_size_forward_on_meta_ava_width(official_meta_models, width):
    """AVA frames resized to short side 256 are 341 (4:3) or 455 (16:9)
    wide; the ViT floors them to whole 16-pixel patches, so its configs pad
    each batch to a multiple of 32 (STMixerDataPreprocessor, as the official
    loader) before the backbone; the padded batch gives a consistent
    pyramid."""
    cfg, model = official_meta_models[VIT]
    assert cfg.model.data_preprocessor.type == 'STMixerDataPreprocessor'
    assert cfg.model.data_preprocessor.pad_size_divisor == 32
    padded = math.ceil(width / 32) * 32
    x = torch.empty(1, 3, 16, 256, padded, device='meta')
    with torch.no_grad():
        feats = model.extract_feat(x)
    assert [f.shape[-1]
            for f in feats] == [padded // s for s in (4, 8, 16, 32)]
    # un-padded, the stride-4 level would not match the input
    with pytest.raises(
            ValueError, match='not one per roi_head.featmap_strides'):
        with torch.no_grad():
            model.extract_feat(
                torch.empty(1, 3, 16, 256, width, device='meta'))


def test_official_parameter_counts(official_meta_models):
    counts = {
        name: sum(p.numel() for p in model.parameters())
        for name, (_, model) in official_meta_models.items()
    }
    decoder = {
        name: sum(p.numel() for p in model.roi_head.parameters())
        for name, (_, model) in official_meta_models.items()
    }
    print('\nparameters of the official models:')
    for name, n in counts.items():
        print(f'  {n / 1e6:8.2f}M  (decoder {decoder[name] / 1e6:.2f}M)  '
              f'{name}')
    for name, expected in PARAM_COUNTS.items():
        if expected is not None:
            assert counts[name] == expected, name
    # VideoMAE and VideoMAEv2 ViT-B are the same network
    assert counts[VIT] == counts[VIT2]
    # the decoder differs only through temporal_points (4 vs 8)
    assert decoder[SF50] == decoder[SF101] == decoder[VIT]
    assert decoder[SO50] < decoder[SF50]


def test_official_settings_match_the_reference():
    expected = {
        SO50: dict(clip=(4, 16), t=4, lr=2e-5, batch=2, action=24.0),
        SF50: dict(clip=(32, 2), t=8, lr=2e-5, batch=2, action=24.0),
        SF101: dict(clip=(32, 2), t=8, lr=2e-5, batch=2, action=24.0),
        VIT: dict(clip=(16, 4), t=8, lr=1e-5, batch=1, action=24.0),
        VIT2: dict(clip=(16, 4), t=8, lr=1e-5, batch=1, action=48.0),
    }
    for name, e in expected.items():
        cfg = load(stmixer_cfg(name))
        m = cfg.model
        head = m.roi_head.stage_head
        assert clip_settings(cfg) == e['clip'], name
        val_sampler = cfg.val_dataloader.dataset.pipeline[0]
        assert (val_sampler['clip_len'],
                val_sampler['frame_interval']) == e['clip']
        assert cfg.test_dataloader.dataset.pipeline[0] == val_sampler
        block = head.sampling_mixing
        assert block.temporal_points == e['t'], name
        # shared: 100 queries, 6 stages, C 256, 8 heads, FFN 2048, P 32,
        # G 4, out_multiplier 4
        assert m.rpn_head.num_queries == 100
        assert m.roi_head.num_stages == 6
        assert m.roi_head.get('stage_loss_weights') is None  # all equal
        assert m.roi_head.featmap_strides == [4, 8, 16, 32]
        assert (head.hidden_channels, head.num_heads,
                head.feedforward_channels, block.spatial_points,
                block.num_groups, block.out_multiplier) == (256, 8, 2048, 32,
                                                            4, 4)
        assert m.neck.get('out_channels', 256) == 256
        assert head.dropout == 0.0
        assert (head.num_person_fcs, head.num_reg_fcs,
                head.num_action_fcs) == (1, 1, 1)
        assert tuple(head.action_branches) == ('spatial', 'temporal')
        # losses 2 / 2 / 2 / 24 (48 for VideoMAEv2); background weight 0.1
        assert head.loss_person == dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            class_weight=[1.0, 0.1],
            loss_weight=2.0)
        assert head.loss_bbox.loss_weight == 2.0
        assert head.loss_iou == dict(type='GIoULoss', loss_weight=2.0)
        assert head.loss_action == dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=e['action'])
        costs = m.train_cfg.rcnn.assigner.match_costs
        assert [(c['type'], c['weight'])
                for c in costs] == [('ClassificationCost', 2.0),
                                    ('BBoxL1Cost', 2.0), ('IoUCost', 2.0)]
        assert m.train_cfg.rcnn.assigner.match_costs[2]['iou_mode'] == 'giou'
        assert m.test_cfg.rcnn.person_threshold == 0.6
        assert m.test_cfg.rcnn.multiply_person_score is False
        # pixels 0.45 / 0.225 of 0..1 RGB
        assert m.data_preprocessor.mean == [0.45 * 255] * 3
        assert m.data_preprocessor.std == [0.225 * 255] * 3
        # schedule: AdamW, wd 1e-4, lr per setting, 12 epochs, x0.1 at
        # 5 and 8, linear warm-up from x0.1 over 2 epochs
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', e['lr'], 1e-4)
        assert 'constructor' not in cfg.optim_wrapper
        assert cfg.train_cfg.max_epochs == 12
        warmup, steps = cfg.param_scheduler
        assert (warmup.type, warmup.start_factor, warmup.begin,
                warmup.end) == ('LinearLR', 0.1, 0, 2)
        assert warmup.by_epoch and warmup.convert_to_iter_based
        assert (steps.type, steps.milestones, steps.gamma) == ('MultiStepLR',
                                                               [5, 8], 0.1)
        # total batch: 8 GPUs x batch_size = 16 (CNN) / 8 (ViT)
        assert cfg.train_dataloader.batch_size == e['batch'], name
        assert cfg.auto_scale_lr.base_batch_size == 8 * e['batch']
        # data: short side one of [256, 320] (the official
        # TRAIN_MIN_SCALES), max 1333, flip; test 256
        train = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
        assert train['RandomShortSideResize']['scales'] == [256, 320]
        assert train['RandomShortSideResize']['max_long_edge'] == 1333
        assert train['Flip']['flip_ratio'] == 0.5
        val = {t['type']: t for t in cfg.val_dataloader.dataset.pipeline}
        assert val['Resize']['scale'] == (1333, 256)
        assert 'Flip' not in val
        assert cfg.load_from is None
        assert m.init_cfg.type == 'Pretrained'


def test_official_backbones():
    vit = load(stmixer_cfg(VIT))
    bb = vit.model.backbone
    # mmaction2's ViT with fused attention, on by default
    assert bb.type == 'STMixerVisionTransformer' and bb.attn_impl == 'sdpa'
    assert (bb.patch_size, bb.embed_dims, bb.depth, bb.num_heads,
            bb.tubelet_size, bb.num_frames) == (16, 768, 12, 12, 2, 16)
    assert bb.qkv_bias and not bb.use_learnable_pos_emb
    assert bb.drop_path_rate == 0.2
    assert not bb.use_mean_pooling and bb.return_feat_map
    assert vit.model.neck.type == 'STMixerViTNeck'
    assert vit.model.neck.in_channels == 768
    assert vit.activation_checkpointing == [
        f'backbone.blocks.{i}' for i in range(12)
    ]
    assert 'videomae-k400' in vit.model.init_cfg.checkpoint
    assert 'videomaev2' in load(stmixer_cfg(VIT2)).model.init_cfg.checkpoint

    sf = load(stmixer_cfg(SF50)).model.backbone
    assert sf.type == 'ResNet3dSlowFastMultiLevel'
    assert (sf.resample_rate, sf.speed_ratio, sf.channel_ratio) == (4, 4, 8)
    assert sf.frame_sampling == 'linspace'
    slow, fast = sf.slow_pathway, sf.fast_pathway
    assert slow.lateral and slow.lateral_norm and slow.fusion_kernel == 7
    assert slow.depth == fast.depth == 50
    assert slow.spatial_strides == fast.spatial_strides == (1, 2, 2, 2)
    assert fast.base_channels == 8 and fast.conv1_kernel == (5, 7, 7)

    sf101 = load(stmixer_cfg(SF101)).model.backbone
    slow, fast = sf101.slow_pathway, sf101.fast_pathway
    assert slow.depth == fast.depth == 101
    assert slow.fusion_kernel == 5 and slow.lateral_norm
    res4 = [1] * 6 + [0] * 17
    assert list(slow.inflate[2]) == res4 and list(fast.inflate[2]) == res4
    nl = slow.non_local[2]
    assert len(nl) == 23 and [i for i, v in enumerate(nl) if v] == [6, 13, 20]
    assert slow.non_local_cfg.type == 'PySlowFastNonLocal3d'
    assert slow.non_local_cfg.instantiation == 'dot_product'
    assert tuple(slow.non_local_cfg.pool_size) == (2, 2, 2)

    so = load(stmixer_cfg(SO50)).model
    # mmaction2's SlowOnly with oneDNN 3-D convolutions, on by default
    assert so.backbone.type == 'STMixerResNet3dSlowOnly'
    assert so.backbone.conv3d_impl == 'onednn'
    assert so.backbone.out_indices == (0, 1, 2, 3)
    assert so.backbone.inflate == (0, 0, 1, 1)
    assert so.neck.in_channels == [256, 512, 1024, 2048]
    assert load(
        stmixer_cfg(SF50)).model.neck.in_channels == [288, 576, 1152, 2304]


@pytest.mark.slow
def test_full_size_real_backbones_build_for_r50_configs():
    """The two reference backbones also build with real tensors (the
    decoder is shrunk to keep this fast)."""
    for name, channels, t in ((SF50, [288, 576, 1152, 2304], 32),
                              (SO50, [256, 512, 1024, 2048], 4)):
        cfg = load(stmixer_cfg(name))
        init_default_scope(cfg.default_scope)
        backbone = MODELS.build(dict(cfg.model.backbone, _scope_='mmdet'))
        backbone.eval()
        with torch.no_grad():
            outs = backbone(torch.randn(1, 3, t, 64, 64))
        assert [o.shape[1] for o in outs] == channels
        assert [
            o.shape[2] for o in outs
        ] == [cfg.model.roi_head.stage_head.sampling_mixing.temporal_points
              ] * 4


# ----------------------------------------------------------------------
# variants
# ----------------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_variant_differs_from_parent_only_where_intended(name):
    parent_name, allowed = VARIANTS[name]
    child = flatten(load(stmixer_cfg(name)).to_dict())
    parent = flatten(load(stmixer_cfg(parent_name)).to_dict())
    changed = {
        k
        for k in child.keys() | parent.keys()
        if k not in child or k not in parent or child[k] != parent[k]
    }
    assert changed, 'the variant changes nothing'
    if isinstance(allowed, str):  # a prefix: the whole sub-tree may change
        assert all(k.startswith(allowed) for k in changed), changed
    else:
        # a per-block tuple differs element by element
        changed = {
            k if not any(k.startswith(a + '.') for a in allowed) else next(
                a for a in allowed if k.startswith(a + '.'))
            for k in changed
        }
        assert changed == allowed, changed ^ allowed


def test_variant_values():

    def head(name):
        return load(stmixer_cfg(name)).model

    assert head(f'stmixer-1stage_{VIT_SUFFIX}').roi_head.num_stages == 1
    assert head(f'stmixer-3stages_{VIT_SUFFIX}').roi_head.num_stages == 3
    for p in (16, 64):
        m = head(f'stmixer-{p}points_{VIT_SUFFIX}')
        assert m.roi_head.stage_head.sampling_mixing.spatial_points == p
    for q in (50, 300):
        m = head(f'stmixer-{q}queries_{VIT_SUFFIX}')
        assert m.rpn_head.num_queries == q
    m = head(f'stmixer-no-temporal_{VIT_SUFFIX}')
    assert tuple(m.roi_head.stage_head.action_branches) == ('spatial', )
    assert m.rpn_head.get('with_temporal_queries') is None  # derived
    m = head(f'stmixer-no-spatial_{VIT_SUFFIX}')
    assert tuple(m.roi_head.stage_head.action_branches) == ('temporal', )
    m = head(f'stmixer-focal_{VIT_SUFFIX}')
    assert m.roi_head.stage_head.loss_person == dict(
        type='mmdet.FocalLoss',
        use_sigmoid=True,
        gamma=2.0,
        alpha=0.25,
        loss_weight=2.0)
    assert m.train_cfg.rcnn.assigner.match_costs[0] == dict(
        type='mmdet.FocalLossCost', weight=2.0)
    for name, inner in ((f'stmixer-fpn_{SF_SUFFIX}', 'mmdet.FPN'),
                        (f'stmixer-pafpn_{SF_SUFFIX}', 'mmdet.PAFPN')):
        neck = head(name).neck
        assert neck.type == 'FrameWiseNeck' and neck.neck.type == inner
        assert neck.neck.in_channels == [288, 576, 1152, 2304]
    neck = head(f'stmixer-fpn_{VIT_SUFFIX}').neck
    assert neck.type == 'SequentialNeck'
    assert [n['type']
            for n in neck.necks] == ['STMixerViTNeck', 'FrameWiseNeck']


# names of the variants whose model differs from its parent's (the others
# change only the schedule or the weights). All are trained; those without
# a code path of their own (and the official models) are marked slow, so
# that `-m "not slow"` keeps only the core ones.
MODEL_VARIANTS = sorted(n for n, (_, allowed) in VARIANTS.items()
                        if n not in (LAYER_DECAY, VIT2))
CORE_VARIANTS = [
    f'stmixer-no-temporal_{VIT_SUFFIX}', f'stmixer-no-spatial_{VIT_SUFFIX}',
    f'stmixer-focal_{VIT_SUFFIX}', f'stmixer-fpn_{VIT_SUFFIX}'
]
TRAIN_CHECKS = CORE_VARIANTS + [
    pytest.param(n, marks=pytest.mark.slow)
    for n in sorted(set(MODEL_VARIANTS) | {SO50, SF50, VIT})
    if n not in CORE_VARIANTS
]


@pytest.mark.parametrize('name', TRAIN_CHECKS)
def test_tiny_model_trains_and_predicts(name):
    """Shrunk widths and at most 2 stages, everything else as configured:
    one loss + backward and a prediction on a clip of the config's length
    (32 x 32 frames)."""
    torch.manual_seed(0)
    cfg = load(stmixer_cfg(name))
    init_default_scope(cfg.default_scope)
    model_cfg = tiny_model(cfg.model)
    num_stages = min(2, cfg.model.roi_head.num_stages)
    model_cfg['roi_head']['num_stages'] = num_stages
    model = MODELS.build(model_cfg)
    model.init_weights()
    clip_len, _ = clip_settings(cfg)
    frames = torch.randint(
        0, 255, (3, clip_len, TINY_SIZE, TINY_SIZE), dtype=torch.uint8)
    inputs, samples = [frames], [_sample()]
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training=True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert len(losses) == 4 * num_stages
    total = sum(losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert all(
        torch.isfinite(p.grad).all() for p in model.parameters()
        if p.grad is not None)
    model.eval()
    with torch.no_grad():
        pred = model.predict(data['inputs'], data['data_samples'])[-1]
    assert pred.pred_instances.scores.shape[1] == 81
    head = model.roi_head.stages[0]
    branches = cfg.model.roi_head.stage_head.action_branches
    expected_width = TINY_C * len(branches)
    assert head.fc_action.in_features == expected_width


# ----------------------------------------------------------------------
# data
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    'name', sorted(set(OFFICIAL) | set(VARIANTS) | set(LARGE_VIT)))
def test_ava_data_and_evaluator_paths(name):
    cfg = load(stmixer_cfg(name))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[loader].dataset
        assert ds.type == 'AVAActorDataset'
        assert ds.data_prefix['img'] == 'data/ava/rawframes'
        assert ds.ann_file.startswith('data/ava/annotations/')
        assert ds.exclude_file.startswith('data/ava/annotations/')
        assert ds.label_file == ('data/ava/annotations/'
                                 'ava_action_list_v2.2_for_activitynet_2019'
                                 '.pbtxt')
        assert ds.num_classes == 81 and ds.fps == 30
        assert 'proposal_file' not in ds  # one-stage: no person proposals
    assert cfg.train_dataloader.dataset.ann_file.endswith('ava_train_v2.2.csv')
    assert cfg.val_dataloader.dataset.ann_file.endswith('ava_val_v2.2.csv')
    assert cfg.test_dataloader.dataset.test_mode
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        # mmaction2's numbers in a fraction of AVAMetric's memory
        assert evaluator.type == 'CompactAVAMetric'
        assert evaluator.ann_file == 'data/ava/annotations/ava_val_v2.2.csv'
        assert evaluator.exclude_file == ('data/ava/annotations/'
                                          'ava_val_excluded_timestamps_v2.2'
                                          '.csv')
        assert evaluator.label_file == ds.label_file
        assert evaluator.num_classes == 81


# ----------------------------------------------------------------------
# training options
# ----------------------------------------------------------------------
def _tiny_vit_model(cfg):
    init_default_scope(cfg.default_scope)
    model = MODELS.build(tiny_model(cfg.model))
    model.init_weights()
    return model


def test_layer_decay_optimizer_wrapper_builds():
    cfg = load(stmixer_cfg(LAYER_DECAY))
    model = _tiny_vit_model(cfg)  # ViT depth 1
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    groups = wrapper.optimizer.param_groups
    lr = cfg.optim_wrapper.optimizer.lr
    by_param = {}
    for group in groups:
        for p in group['params']:
            by_param[p] = group
    named = dict(model.named_parameters())
    # every trainable parameter is in exactly one group
    assert sum(len(g['params']) for g in groups) == len(named)
    # blocks.0 -> layer 1 -> lr * 0.75^(12 - 1 + 1); patch embedding layer 0
    block = by_param[named['backbone.blocks.0.attn.qkv.weight']]
    assert block['lr'] == pytest.approx(lr * 0.75**12)
    assert block['weight_decay'] == 1e-4
    embed = by_param[named['backbone.patch_embed.projection.weight']]
    assert embed['lr'] == pytest.approx(lr * 0.75**13)
    # neck and decoder: full lr; 1-D parameters without weight decay
    head = by_param[named['roi_head.stages.0.fc_action.weight']]
    assert head['lr'] == pytest.approx(lr) and head['weight_decay'] == 1e-4
    bias = by_param[named['roi_head.stages.0.fc_action.bias']]
    assert bias['lr'] == pytest.approx(lr) and bias['weight_decay'] == 0.0
    neck = by_param[named['neck.lateral_convs.0.0.weight']]
    assert neck['lr'] == pytest.approx(lr)

    # and the official (no decay) optimizer for comparison
    plain = load(stmixer_cfg(VIT))
    wrapper = build_optim_wrapper(model, copy.deepcopy(plain.optim_wrapper))
    assert len(wrapper.optimizer.param_groups) == 1
    assert wrapper.optimizer.param_groups[0]['lr'] == 1e-5


def test_amp_flag_keeps_the_layer_decay_constructor():
    from stmixer_mm.apps.cli import train as train_tool
    args = train_tool.parse_args([str(stmixer_cfg(LAYER_DECAY)), '--amp'])
    # --amp is refused without an accelerator; pretend there is one
    with mock.patch('torch.cuda.is_available', return_value=True):
        cfg = train_tool.merge_args(load(stmixer_cfg(LAYER_DECAY)), args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.constructor == \
        'LearningRateDecayOptimizerConstructor'


def test_vit_activation_checkpointing(official_meta_models):
    cfg, full = official_meta_models[VIT]
    for name in cfg.activation_checkpointing:
        attrgetter(name)(full)  # names real modules of the real model

    # on a tiny backbone (drop path on): same output and gradients with the
    # block wrapped the way mmengine's Runner does it
    backbone_cfg = dict(
        tiny_model(cfg.model)['backbone'], depth=2, _scope_='mmdet')
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.backbone = MODELS.build(backbone_cfg)
    model.train()
    x = torch.randn(1, 3, 16, TINY_SIZE, TINY_SIZE)

    def output_and_grads():
        torch.manual_seed(1)  # drop path
        model.zero_grad()
        out = model.backbone(x)
        (out**2).sum().backward()
        return out.detach(), {
            n: p.grad.clone()
            for n, p in model.named_parameters() if p.grad is not None
        }

    out_ref, grads_ref = output_and_grads()
    with pytest.warns(UserWarning, match='use_reentrant'):
        turn_on_activation_checkpointing(model,
                                         cfg.activation_checkpointing[:2])
        out, grads = output_and_grads()
    torch.testing.assert_close(out, out_ref)
    assert grads.keys() == grads_ref.keys()
    for n in grads:
        torch.testing.assert_close(grads[n], grads_ref[n], msg=n)


def test_metafile_lists_the_official_settings():
    import yaml
    with open(STMIXER / 'metafile.yml') as f:
        meta = yaml.safe_load(f)
    assert [c['Name'] for c in meta['Collections']] == ['STMixer']
    models = {m['Name']: m for m in meta['Models']}
    # every config of the folder has an entry, the official ones included
    assert set(models) == {p.stem for p in STMIXER.glob('*.py')}
    assert {n[:-len('.py')] for n in OFFICIAL} <= set(models)
    for name, m in models.items():
        assert m['Config'] == f'configs/stmixer/{name}.py'
        assert (ROOT / m['Config']).exists()
        cfg = load(ROOT / m['Config'])
        gpus = int(m['Metadata']['Training Resources'].split()[0])
        assert m['Metadata']['Batch Size'] == \
            gpus * cfg.train_dataloader.batch_size
        assert m['Metadata']['Epochs'] == cfg.train_cfg.max_epochs
        assert m['Metadata']['Training Data'] == 'AVA v2.2'
