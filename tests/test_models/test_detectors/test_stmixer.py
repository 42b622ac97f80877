"""End-to-end tests of the STMixer detector built from a real (tiny)
config: SlowOnly-R18 with 8 base channels, lateral neck to C=64, 10
queries, 2 stages, P=4, G=4, T=4, on 4x64x64 clips."""
import copy
from unittest import mock

import pytest
import torch
from mmaction.evaluation import AVAMetric
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData
from torch.utils.checkpoint import checkpoint

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import tiny_ava_model_cfg

C = 64
# the model of tests/data/configs/tiny_stmixer_tiny-ava.py with AVA's 80
# actions and mmaction2's data preprocessor (no padding)
MODEL = tiny_ava_model_cfg()


def build(cfg=None):
    model = MODELS.build(copy.deepcopy(cfg or MODEL))
    model.init_weights()
    return model


def sample(boxes, action_ids, img_shape=(64, 64), key='vid,0902'):
    s = ActionDataSample()
    s.set_metainfo(
        dict(
            img_shape=img_shape,
            video_id=key.split(',')[0],
            timestamp=int(key.split(',')[1])))
    labels = torch.zeros(len(boxes), 81)
    for i, ids in enumerate(action_ids):
        labels[i, ids] = 1
    s.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4),
        labels=labels)
    return s


def clip(B=2):
    return torch.randn(B, 3, 4, 64, 64)


def test_loss_empty_gt_and_one_gt():
    torch.manual_seed(0)
    model = build()
    model.train()
    losses = model.loss(clip(1), [sample([], [])])
    for k in range(2):
        assert losses[f's{k}.loss_person'] > 0
        for n in ('loss_bbox', 'loss_iou', 'loss_action'):
            assert losses[f's{k}.{n}'].item() == 0.0
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert all(
        torch.isfinite(p.grad).all() for p in model.parameters()
        if p.grad is not None)

    model.zero_grad()
    losses = model.loss(
        clip(), [sample([[10., 4., 40., 60.]], [[12, 79]]),
                 sample([], [])])
    assert len(losses) == 8
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, name


def test_backprop_reaches_every_parameter():
    torch.manual_seed(0)
    model = build()
    model.train()
    samples = [
        sample([[10., 4., 40., 60.], [30., 20., 62., 50.]], [[12], [3, 80]])
    ]
    sum(model.loss(clip(1), samples).values()).backward()
    params = dict(model.named_parameters())
    assert all(p.grad is not None for p in params.values())
    zero = {n for n, p in params.items() if p.grad.abs().max() == 0}
    # The box regressor `fc_reg` starts at zero, so nothing flows back into
    # the layers before it (`reg_fcs`) at the first step; see below.
    assert zero == {n for n in params if '.reg_fcs.' in n}
    # With fc_reg at zero every stage still sees the identical whole-frame
    # boxes, so the IoF bias is one constant per row, which softmax ignores:
    # iof_tau gets only float rounding noise.
    for k in range(2):
        assert params[f'roi_head.stages.{k}.iof_tau'].grad.abs().max() < 1e-6

    # once fc_reg has moved, the regression trunk and the IoF temperatures
    # of the later stages learn too
    model.zero_grad()
    with torch.no_grad():
        for stage in model.roi_head.stages:
            stage.fc_reg.weight.normal_(std=0.01)
    sum(model.loss(clip(1), samples).values()).backward()
    for n, p in params.items():
        if '.reg_fcs.' in n:
            assert p.grad.abs().max() > 0, n
    assert params['roi_head.stages.1.iof_tau'].grad.abs().max() > 1e-6
    # stage 0 always starts from the whole frame for every query, so its
    # iof_tau never matters (as in the official model)
    assert params['roi_head.stages.0.iof_tau'].grad.abs().max() < 1e-6


def test_predict_ava_format_and_metric():
    torch.manual_seed(0)
    model = build()
    model.eval()
    samples = [
        sample([], [], key='vidA,0902'),
        sample([], [], img_shape=(64, 48), key='vidB,0903')
    ]
    with torch.no_grad():
        out = model.predict(clip(), samples)
    for s in out:
        pred = s.pred_instances
        n = len(pred)
        assert n >= 3
        assert pred.bboxes.shape == (n, 4) and pred.scores.shape == (n, 81)
        assert pred.bboxes.min() >= 0 and pred.bboxes.max() <= 1
        assert torch.all(pred.scores[:, 0] == 0)
        assert torch.all((pred.scores[:, 1:] > 0) & (pred.scores[:, 1:] < 1))
    metric = AVAMetric(ann_file='', exclude_file='', label_file='')
    metric.process(None, [s.to_dict() for s in out])
    assert len(metric.results) == 2
    assert len(metric.results[0]['outputs']) == 80  # one array per class


def test_forward_modes_through_data_preprocessor():
    torch.manual_seed(0)
    model = build()
    data = dict(
        inputs=[
            torch.randint(0, 255, (3, 4, 64, 64), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=[sample([[10., 4., 40., 60.]], [[12]]),
                      sample([], [])])
    model.train()
    batch = model.data_preprocessor(data, True)
    assert batch['inputs'].shape == (2, 3, 4, 64, 64)
    losses = model(**batch, mode='loss')
    assert len(losses) == 8
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(data, False)
        preds = model(**batch, mode='predict')
        assert len(preds) == 2 and 'pred_instances' in preds[0]
        outs = model(batch['inputs'], mode='tensor')
    assert len(outs) == 2  # one (person, action, boxes) triple per stage
    person, action, boxes = outs[-1]
    assert person.shape == (2, 10, 2)
    assert action.shape == (2, 10, 80)
    assert boxes.shape == (2, 10, 4)


def test_sigmoid_person_variant():
    torch.manual_seed(0)
    cfg = copy.deepcopy(MODEL)
    cfg['roi_head']['stage_head']['loss_person'] = dict(
        type='FocalLoss',
        use_sigmoid=True,
        gamma=2.0,
        alpha=0.25,
        loss_weight=2.0)
    cfg['train_cfg']['rcnn']['assigner']['match_costs'][0] = dict(
        type='FocalLossCost', weight=2.0)
    model = build(cfg)
    losses = model.loss(
        clip(), [sample([[10., 4., 40., 60.]], [[12]]),
                 sample([], [])])
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, name
    model.eval()
    with torch.no_grad():
        out = model.predict(clip(), [sample([], []), sample([], [])])
    assert all(len(s.pred_instances) >= 3 for s in out)


def test_activation_checkpointing_is_used():
    cfg = copy.deepcopy(MODEL)
    cfg['roi_head']['with_cp'] = True
    model = build(cfg)
    model.train()
    target = 'stmixer_mm.models.roi_heads.stmixer_decoder.checkpoint'
    with mock.patch(target, wraps=checkpoint) as spy:
        losses = model.loss(clip(1), [sample([[10., 4., 40., 60.]], [[3]])])
    assert spy.call_count == 2
    sum(losses.values()).backward()


def test_settings_that_must_agree():
    cfg = copy.deepcopy(MODEL)
    cfg['neck']['out_channels'] = 32
    with pytest.raises(ValueError, match='neck.out_channels'):
        MODELS.build(cfg)

    # the maps' T against temporal_points, where the decoder reads them
    cfg = copy.deepcopy(MODEL)
    cfg['roi_head']['stage_head']['sampling_mixing']['temporal_points'] = 8
    model = build(cfg)
    with pytest.raises(ValueError, match='T = temporal_points=8'):
        model._forward(clip(1))

    # the maps' sizes against featmap_strides (here in reverse order)
    model = build()
    neck_forward = model.neck.forward
    with mock.patch.object(model.neck, 'forward',
                           lambda x: tuple(neck_forward(x))[::-1]):
        with pytest.raises(
                ValueError,
                match=r'^STMixer: the backbone \(ResNet3dSlowOnly\) and neck '
                r'\(STMixerLateralNeck\) give 4 maps \[\(2, 2\), .* not one '
                r'per roi_head.featmap_strides \[4, 8, 16, 32\]$'):
            model._forward(clip(1))


def test_temporal_branch_off_builds_matching_query_generator():
    cfg = copy.deepcopy(MODEL)
    cfg['roi_head']['stage_head']['action_branches'] = ('spatial', )
    model = build(cfg)
    assert model.rpn_head.with_temporal_queries is False
    assert not any('temporal' in name
                   for name, _ in model.rpn_head.named_parameters())
    model.train()
    losses = model.loss(clip(1), [sample([[4., 4., 40., 60.]], [[2]])])
    assert all(torch.isfinite(v) for v in losses.values())
    # an explicit, contradicting setting is an error
    cfg['rpn_head']['with_temporal_queries'] = True
    with pytest.raises(ValueError, match='with_temporal_queries'):
        MODELS.build(cfg)


def test_mmdet_two_stage_contract():
    """STMixer is an mmdet TwoStageDetector: the query generator is its
    rpn_head, the decoder its roi_head, train_cfg / test_cfg have mmdet's
    rpn / rcnn sections and the rcnn part reaches the decoder."""
    from mmdet.models.detectors import TwoStageDetector
    model = build()
    assert isinstance(model, TwoStageDetector)
    assert model.with_rpn and model.with_roi_head
    assert type(model.rpn_head).__name__ == 'STMixerQueryGenerator'
    assert type(model.roi_head).__name__ == 'STMixerDecoder'
    assert model.test_cfg.rpn is None
    assert model.roi_head.test_cfg['person_threshold'] == 0.6
    assert len(model.roi_head.assigners) == 2
    # the decoder is registered (and so initialised) before the generator
    assert [n for n, _ in model.named_children()
            ][-2:] == ['roi_head', 'rpn_head']


@pytest.mark.parametrize('old', ['query_generator', 'decoder'])
def test_old_config_keys_are_refused_naming_them(old):
    """The keys of earlier versions (now rpn_head / roi_head) are unknown
    arguments: refused naming the key, before a run with the config path."""
    from stmixer_mm.apps.preflight import check_config
    from stmixer_mm.utils.checks import ConfigSettingError
    cfg = copy.deepcopy(MODEL)
    cfg[old] = cfg.pop(
        dict(query_generator='rpn_head', decoder='roi_head')[old])
    with pytest.raises(TypeError, match=f"'{old}'"):
        MODELS.build(cfg)
    with pytest.raises(
            ConfigSettingError, match=f"^model: TypeError: .*'{old}'"):
        check_config(dict(model=cfg))


@pytest.mark.parametrize('key', ['train_cfg', 'test_cfg'])
def test_flat_train_and_test_cfg_are_refused(key):
    cfg = copy.deepcopy(MODEL)
    cfg[key] = cfg[key]['rcnn']
    with pytest.raises(
            ValueError,
            match=rf"^STMixer: {key} must be dict\(rpn=None, rcnn=dict\("):
        MODELS.build(cfg)


def test_checkpoints_with_older_names_load(tmp_path):
    """query_generator.* / decoder.* (official checkpoints converted by
    earlier versions, this project's older checkpoints) are renamed as
    mmengine's loader reads the file (stmixer_mm.converters.legacy), so they
    load strictly through load_checkpoint (load_from, tools/test.py) and
    init_detector (whose checkpoint checks they pass)."""
    from mmengine.runner.checkpoint import load_checkpoint

    from stmixer_mm.apis import init_detector
    from stmixer_mm.testing import TINY_CFG, repo_path
    torch.manual_seed(0)
    src = init_detector(repo_path(TINY_CFG))
    old = {}
    for k, v in src.state_dict().items():
        k = k.replace('rpn_head.', 'query_generator.',
                      1) if k.startswith('rpn_head.') else k
        k = k.replace('roi_head.', 'decoder.',
                      1) if k.startswith('roi_head.') else k
        old[k] = v
    assert any(k.startswith('decoder.stages.') for k in old)
    assert any(k.startswith('query_generator.') for k in old)
    path = str(tmp_path / 'old.pth')
    torch.save(dict(state_dict=old, meta=dict()), path)
    torch.manual_seed(1)
    dst = init_detector(repo_path(TINY_CFG))
    assert not torch.equal(dst.rpn_head.init_spatial_queries.weight,
                           src.rpn_head.init_spatial_queries.weight)
    load_checkpoint(dst, path, strict=True)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    dst = init_detector(repo_path(TINY_CFG), path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_frozen_modules_get_no_gradient_and_stay_in_eval_mode():
    torch.manual_seed(0)
    frozen = ['backbone', 'neck', 'rpn_head', 'roi_head.stages.0']
    model = build(dict(MODEL, frozen_modules=frozen))
    model.train()
    for name in frozen:
        part = model.get_submodule(name)
        assert not any(m.training for m in part.modules()), name
    assert model.roi_head.stages[1].training
    samples = [sample([[10., 4., 40., 60.]], [[12]])]
    sum(model.loss(clip(1), samples).values()).backward()
    for n, p in model.named_parameters():
        if n.startswith(tuple(frozen)):
            assert not p.requires_grad and p.grad is None, n
        else:
            assert p.grad is not None, n
    # a name that is no part of the model is refused, naming it
    with pytest.raises(ValueError, match=r"got 'roi_head.stage'$"):
        build(dict(MODEL, frozen_modules=['roi_head.stage']))


@pytest.mark.parametrize(
    'frozen, message',
    [
        # the model itself: train() and eval() called each other without end
        ([''], r"^STMixer: frozen_modules\[0\] must name a part \(e.g. "
         r"'roi_head.stages'\), got ''$"),
        (['backbone', '  '], r"frozen_modules\[1\] .*got '  '$"),
        (['backbone.'], r"frozen_modules\[0\] .*got 'backbone.'$"),
        (['neck', 'roi_head.stages.7'], r"frozen_modules\[1\] .*"
         r"got 'roi_head.stages.7'$"),
        (['rpn_head.init_spatial_queries.weight'
          ], r"got 'rpn_head.init_spatial_queries.weight'$"),
        ([3], r'frozen_modules\[0\] .*got 3$'),
        # a string where the list goes: not read character by character
        ('backbone', r"^STMixer: frozen_modules must be a list of part names "
         r"\(e.g. \['backbone'\]\), got 'backbone'$"),
        (None, r'frozen_modules must be a list of part names .*got None$'),
    ],
    ids=[
        'empty', 'blank', 'trailing-dot', 'no-such-stage', 'a-parameter',
        'not-a-string', 'a-string', 'none'
    ])
def test_frozen_modules_names_a_part(frozen, message):
    with pytest.raises(ValueError, match=message):
        build(dict(MODEL, frozen_modules=frozen))


@pytest.mark.parametrize('frozen', [
    ['backbone', 'neck', 'rpn_head', 'roi_head'],
    ['data_preprocessor', 'backbone', 'neck', 'rpn_head', 'roi_head.stages'],
])
def test_frozen_modules_leave_something_to_train(frozen):
    """Every parameter frozen failed at the first backward ("element 0 of
    tensors does not require grad")."""
    with pytest.raises(ValueError) as info:
        build(dict(MODEL, frozen_modules=frozen))
    assert str(info.value) == ('STMixer: frozen_modules must leave a '
                               f'parameter to train, got {frozen}')


def test_frozen_modules_repeated_or_nested_freeze_the_same():
    """A name twice, or a part and its own child: the same parameters
    frozen, and train() / eval() work."""
    plain = build(dict(MODEL, frozen_modules=['backbone']))
    model = build(
        dict(
            MODEL, frozen_modules=['backbone', 'backbone.layer1', 'backbone']))
    model.train()
    assert not any(m.training for m in model.backbone.modules())
    assert model.neck.training
    model.eval()
    assert not model.neck.training

    def frozen(m):
        return [n for n, p in m.named_parameters() if not p.requires_grad]

    assert frozen(model) == frozen(plain) and frozen(plain)


def test_frozen_modules_and_frozen_stages_leave_something_to_train():
    """The backbone freezes its ``frozen_stages`` in ``train()``, which the
    detector calls when built: the rest frozen by ``frozen_modules`` is
    refused there, before a step (and by a later ``train()``)."""
    cfg = copy.deepcopy(MODEL)
    cfg['backbone']['frozen_stages'] = 4
    with pytest.raises(ValueError) as info:
        build(dict(cfg, frozen_modules=['neck', 'rpn_head', 'roi_head']))
    assert str(info.value) == (
        'STMixer: frozen_modules must leave a parameter to train, got '
        "['neck', 'rpn_head', 'roi_head']")
    # one part left: trains
    model = build(dict(cfg, frozen_modules=['neck', 'rpn_head']))
    model.train()
    assert model.roi_head.training and not model.neck.training


def test_a_query_generator_of_other_channels_is_refused_when_built():
    """The decoder's channels are filled into the query generator; an
    explicit other count is refused naming both (it failed at the first
    stage with a bare size mismatch)."""
    cfg = copy.deepcopy(MODEL)
    cfg['rpn_head'] = dict(cfg['rpn_head'], hidden_channels=32)
    with pytest.raises(
            ValueError,
            match=r"^rpn_head.hidden_channels \(32\) != the decoder's "
            r'hidden_channels \(64\); leave it out \(filled in\)'):
        build(cfg)
