"""The pinned detector runs (``tests/data/regression/stmixer_regression.pt``,
written by ``generate_stmixer_regression.py`` there): the models, their inputs,
the name-seeded weights and what is recorded of each run."""
import copy
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from unittest import mock

import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from stmixer_mm.converters.legacy import LEGACY_PREFIXES
from stmixer_mm.models.roi_heads import stmixer_decoder
from stmixer_mm.registry import MODELS
from .paths import repo_root


def model_cfgs() -> Dict[str, dict]:
    """The model configs of the pinned models (``tiny_ava``,
    ``tiny_ava_focal``, ``tiny_ava_spatial``, ``vit_base_tiny``; see the
    generator's docstring)."""
    tiny = Config.fromfile(
        str(Path(repo_root()) /
            'tests/data/configs/tiny_stmixer_tiny-ava.py')).model
    tiny = tiny.to_dict()
    focal = copy.deepcopy(tiny)
    focal['roi_head']['stage_head']['loss_person'] = dict(
        type='FocalLoss',
        use_sigmoid=True,
        gamma=2.0,
        alpha=0.25,
        loss_weight=2.0)
    focal['train_cfg']['rcnn']['assigner']['match_costs'][0] = dict(
        type='FocalLossCost', weight=2.0)
    spatial = copy.deepcopy(tiny)
    spatial['roi_head']['stage_head']['action_branches'] = ('spatial', )

    vit = Config.fromfile(
        str(
            Path(repo_root()) /
            'configs/_base_/models/stmixer_vit-base-p16.py')).model
    vit = vit.to_dict()
    vit['backbone'].update(
        embed_dims=64, depth=1, num_heads=2, drop_path_rate=0.0)
    vit['neck'].update(in_channels=64, out_channels=32)
    vit['rpn_head'].update(num_queries=8)
    vit['roi_head'].update(num_stages=2)
    vit['roi_head']['stage_head'].update(
        hidden_channels=32, feedforward_channels=64, num_actions=80)
    return dict(
        tiny_ava=tiny,
        tiny_ava_focal=focal,
        tiny_ava_spatial=spatial,
        vit_base_tiny=vit)


#: (clip length, frame size) of each model's input
INPUTS = dict(
    tiny_ava=(4, (64, 64)),
    tiny_ava_focal=(4, (64, 64)),
    tiny_ava_spatial=(4, (64, 64)),
    vit_base_tiny=(16, (64, 64)))


def make_samples(model_name: str, with_gt: bool) -> List[ActionDataSample]:
    """Two samples: two GT persons in the first clip, none in the second."""
    num_actions = 7 if model_name.startswith('tiny_ava') else 80
    h, w = INPUTS[model_name][1]
    samples = []
    for i, boxes in enumerate(([[10., 4., 40., 60.], [30., 20., 62.,
                                                      50.]], [])):
        s = ActionDataSample()
        s.set_metainfo(
            dict(img_shape=(h, w), video_id=f'vid{i}', timestamp=902))
        if with_gt:
            labels = torch.zeros(len(boxes), num_actions + 1)
            for j in range(len(boxes)):
                labels[j, [1 + j, num_actions]] = 1
            s.gt_instances = InstanceData(
                bboxes=torch.tensor(boxes).view(-1, 4), labels=labels)
        samples.append(s)
    return samples


def make_input(model_name: str) -> torch.Tensor:
    t, (h, w) = INPUTS[model_name]
    g = torch.Generator().manual_seed(1234)
    return torch.randn(2, 3, t, h, w, generator=g)


def build(cfg: dict) -> torch.nn.Module:
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(copy.deepcopy(cfg))


def checksums(state_dict: dict) -> Dict[str, Tuple[float, float]]:
    return {
        k: (v.double().sum().item(), v.double().abs().sum().item())
        for k, v in state_dict.items() if v.is_floating_point()
    }


#: std of the name-seeded noise given to all-zero tensors
ZERO_STD = 0.01


def weight_stats(state_dict: dict) -> Dict[str, Tuple[float, float]]:
    """(mean, std) in float64 of every floating tensor; std 0 if constant."""
    stats = dict()
    for k, v in state_dict.items():
        if not v.is_floating_point():
            continue
        v = v.double()
        constant = v.numel() < 2 or bool((v == v.flatten()[0]).all())
        stats[k] = (v.mean().item(), 0.0 if constant else v.std().item())
    return stats


#: (current, pinned) key prefixes: the fixture predates mmdet's names
#: (``rpn_head.*`` was ``query_generator.*``, ``roi_head.*`` ``decoder.*``)
PINNED_PREFIXES = tuple((new, old) for old, new in LEGACY_PREFIXES)


def pinned_name(key: str) -> str:
    """The name under which the fixture pins the state-dict key ``key``."""
    for new, old in PINNED_PREFIXES:
        if key.startswith(new):
            return old + key[len(new):]
    return key


def seeded_state_dict(model: torch.nn.Module,
                      stats: Dict[str, Tuple[float, float]]) -> dict:
    """The model's state dict with every floating tensor refilled from
    ``stats`` by a generator seeded with the CRC32 of its key (both by the
    key's :func:`pinned_name`)."""
    state_dict = dict()
    for k, v in model.state_dict().items():
        name = pinned_name(k)
        if name not in stats:
            state_dict[k] = v.clone()
            continue
        mean, std = stats[name]
        if mean == 0.0 and std == 0.0:
            std = ZERO_STD
        g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        noise = torch.randn(v.shape, generator=g, dtype=torch.float64)
        state_dict[k] = (mean + std * noise).to(v.dtype)
    return state_dict


def run_model(model: torch.nn.Module, state_dict: dict, name: str) -> dict:
    """predict, _forward (eval) and loss (train) from ``state_dict``."""
    x = make_input(name)
    out = dict()
    model.load_state_dict(state_dict)
    model.eval()
    with torch.no_grad():
        preds = model.predict(x, make_samples(name, with_gt=False))
        out['predict'] = [
            dict(
                bboxes=p.pred_instances.bboxes,
                scores=p.pred_instances.scores,
                person_scores=p.pred_instances.person_scores) for p in preds
        ]
        out['forward'] = model._forward(x)
    model.load_state_dict(state_dict)
    model.train()
    losses = model.loss(x, make_samples(name, with_gt=True))
    out['loss'] = {k: v.detach() for k, v in losses.items()}
    model.load_state_dict(state_dict)
    return out


def config_params() -> Dict[str, List[Tuple[str, Tuple[int, ...]]]]:
    """Names and shapes of every config's model, built on meta."""
    from unittest import mock
    linspace = torch.linspace

    def cpu_linspace(*args, **kwargs):
        kwargs.setdefault('device', 'cpu')
        return linspace(*args, **kwargs)

    result = dict()
    for path in sorted((Path(repo_root()) / 'configs').rglob('*.py')):
        if '_base_' in path.parts:
            continue
        cfg = Config.fromfile(str(path))
        with DefaultScope.overwrite_default_scope(cfg.default_scope), \
                torch.device('meta'), \
                mock.patch.object(torch, 'linspace', cpu_linspace):
            model = MODELS.build(cfg.model)
        result[str(path.relative_to(Path(repo_root()) / 'configs'))] = [
            (k, tuple(v.shape)) for k, v in model.state_dict().items()
        ]
    return result


def train_step_record(graph_train_cfg: Optional[dict] = None) -> dict:
    """Losses, gradients and matchings of one training step of every pinned
    model (``tests/data/regression/generate_train_step_pin.py``).

    Args:
        graph_train_cfg (dict, optional): The models' ``graph_train_cfg``;
            the step recorded is then the second (the first of a batch shape
            runs eagerly), and ``fallback`` says why it ran eagerly (None:
            it ran compiled).

    Returns:
        dict: Per model name, ``loss`` (key -> scalar tensor), ``grads``
        (parameter -> float64 ``(2, )``: sum, sum of absolute values) and
        ``gt_inds`` (list of ``(N, )`` long tensors, stage-major).
    """
    ref = torch.load(
        str(Path(repo_root()) / 'tests/data/regression/stmixer_regression.pt'),
        map_location='cpu',
        weights_only=True)
    record = dict()
    for name, cfg in model_cfgs().items():
        torch.manual_seed(0)
        model = build(dict(cfg, graph_train_cfg=graph_train_cfg))
        model.init_weights()
        model.load_state_dict(
            seeded_state_dict(model, ref['models'][name]['weight_stats']))
        model.train()
        if graph_train_cfg is not None:  # the shape's first step: eager
            model.loss(make_input(name), make_samples(name, with_gt=True))
        gt_inds = []
        real = stmixer_decoder.batched_hungarian_assign

        def recording(*args, **kwargs):
            results = real(*args, **kwargs)
            gt_inds.extend(r.gt_inds.clone() for r in results or ())
            return results

        with mock.patch.object(stmixer_decoder, 'batched_hungarian_assign',
                               recording):
            losses = model.loss(
                make_input(name), make_samples(name, with_gt=True))
        sum(losses.values()).backward()
        record[name] = dict(
            loss={
                k: v.detach()
                for k, v in losses.items()
            },
            grads={
                k:
                torch.stack(
                    [p.grad.double().sum(),
                     p.grad.double().abs().sum()])
                for k, p in model.named_parameters() if p.grad is not None
            },
            gt_inds=gt_inds)
        if graph_train_cfg is not None:
            record[name]['fallback'] = model.graphed_training.last_fallback
    return record


def failing_compile_backend() -> str:
    """The name of a ``torch.compile`` backend that raises at every
    compilation (registered once), for the eager fallbacks' tests."""
    from torch._dynamo import list_backends, register_backend
    name = 'stmixer_failing_test'
    if name not in list_backends(exclude_tags=None):

        def failing(gm, example_inputs):
            raise RuntimeError('this backend fails on purpose')

        register_backend(failing, name=name)
    return name
