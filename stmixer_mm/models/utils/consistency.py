"""Every check of settings that must agree between the parts of an STMixer
model; checks of built parts are ``declare_rule(..., built=True)`` rules."""
import inspect
from typing import Any, Optional, Sequence, Tuple

import torch.nn as nn
from mmdet.models.task_modules.assigners.match_cost import (
    ClassificationCost, CrossEntropyLossCost, FocalLossCost)
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings_specs import declare_rule

#: settings that every stage head of a decoder must share
SHARED_STAGE_SETTINGS = ('hidden_channels', 'feat_channels', 'temporal_points',
                         'num_actions', 'action_branches', 'label_convention')


def check_stage_heads(stages: Sequence[nn.Module]) -> None:
    """All stage heads share :data:`SHARED_STAGE_SETTINGS`."""
    for name in SHARED_STAGE_SETTINGS:
        values = [getattr(stage, name) for stage in stages]
        if len(set(values)) != 1:
            raise ValueError(
                f'all decoder stages must have the same {name}; the '
                f'stage_head configs give {values} (stages 0..'
                f'{len(values) - 1})')


def check_person_loss_and_match_costs(loss_person: nn.Module,
                                      assigner: Any,
                                      stage: int = 0) -> None:
    """The assigner's classification cost reads the person logits as the loss
    does (``ClassificationCost``'s softmax of one sigmoid logit is constant;
    ``FocalLossCost`` would read softmax logits as sigmoids); a ValueError
    names the loss, the cost and the fix. No ``match_costs``: not checked.

    Args:
        loss_person (nn.Module): A stage head's person loss (its
            ``use_sigmoid``).
        assigner (Any): That stage's assigner (its ``match_costs``).
        stage (int): The stage, for the message. Defaults to 0.
    """
    use_sigmoid = bool(getattr(loss_person, 'use_sigmoid', False))
    loss_name = type(loss_person).__name__
    for cost in getattr(assigner, 'match_costs', None) or ():
        cost_name = type(cost).__name__
        if isinstance(cost, ClassificationCost) and use_sigmoid:
            raise ValueError(
                f'stage {stage}: the person loss {loss_name} is a sigmoid '
                f'loss (1 person logit), but the assigner\'s {cost_name} '
                'takes a softmax over the logits, which gives a constant '
                'matching cost; use dict(type=\'FocalLossCost\', ...) in '
                'train_cfg.assigner.match_costs (or a softmax person loss)')
        if isinstance(cost, FocalLossCost) and not use_sigmoid:
            raise ValueError(
                f'stage {stage}: the person loss {loss_name} is a softmax '
                'loss (2 logits: person, no-object), but the assigner\'s '
                f'{cost_name} reads sigmoid logits; use '
                'dict(type=\'ClassificationCost\', ...) (or a sigmoid person '
                'loss such as FocalLoss)')
        if isinstance(cost, CrossEntropyLossCost) and \
                bool(cost.use_sigmoid) != use_sigmoid:
            raise ValueError(
                f'stage {stage}: the person loss {loss_name} has '
                f'use_sigmoid={use_sigmoid} but the assigner\'s {cost_name} '
                f'has use_sigmoid={bool(cost.use_sigmoid)}; they must agree')


#: constructor arguments that carry the query channels, by query generator
CHANNEL_ARGS = ('hidden_channels', 'proposal_feature_channel')


def _init_args(cfg: dict) -> Tuple[type, set]:
    cls = cfg['type']
    if isinstance(cls, str):
        cls = MODELS.get(cls)
        if cls is None:
            raise ValueError(f'rpn_head.type={cfg["type"]!r} is not '
                             'registered in mmdet\'s MODELS')
    params = inspect.signature(cls.__init__).parameters
    return cls, {
        n
        for n, p in params.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def inject_query_generator_settings(cfg: dict, hidden_channels: int,
                                    with_temporal_queries: bool) -> dict:
    """The query generator config with the decoder's channels and
    ``with_temporal_queries`` filled in where its constructor names them; an
    explicit different value is an error.

    Args:
        cfg (dict): The ``rpn_head`` config (its ``type`` registered).
        hidden_channels (int): The decoder's query channels (set as
            ``hidden_channels`` / ``proposal_feature_channel``).
        with_temporal_queries (bool): Whether the decoder reads temporal
            queries.

    Returns:
        dict: A copy of ``cfg`` with the settings its constructor takes.
    """
    cfg = dict(cfg)
    _, args = _init_args(cfg)
    settings = dict(with_temporal_queries=with_temporal_queries)
    for name in CHANNEL_ARGS:
        settings[name] = hidden_channels
    for name, value in settings.items():
        if name not in args:
            continue
        if cfg.get(name, value) != value:
            source = ('stage_head.action_branches' if name
                      == 'with_temporal_queries' else 'hidden_channels')
            raise ValueError(
                f'rpn_head.{name} ({cfg[name]}) != the decoder\'s '
                f'{value} (from the decoder\'s {source}); leave it out, the '
                'detector fills it in')
        cfg[name] = value
    return cfg


def check_query_generator(query_generator: nn.Module, hidden_channels: int,
                          with_temporal_queries: bool,
                          action_branches: Sequence[str]) -> None:
    """The built query generator gives queries the decoder can read.

    Args:
        query_generator (nn.Module): The built ``rpn_head``.
        hidden_channels (int): The decoder's query channels.
        with_temporal_queries (bool): Whether the decoder reads temporal
            queries.
        action_branches (Sequence[str]): The stage heads' branches, for
            the message.
    """
    name = type(query_generator).__name__
    for attr in CHANNEL_ARGS:
        channels = getattr(query_generator, attr, None)
        if channels is not None and channels != hidden_channels:
            raise ValueError(
                f'rpn_head ({name}) gives {channels}-channel queries '
                f'({attr}), the decoder has hidden_channels='
                f'{hidden_channels}')
    gives_temporal = bool(
        getattr(query_generator, 'with_temporal_queries', False))
    if gives_temporal != with_temporal_queries:
        need = 'need' if with_temporal_queries else 'take no'
        raise ValueError(
            f'the decoder stages have action_branches={tuple(action_branches)}'
            f' and so {need} temporal queries, but the rpn_head '
            f'({name}) gives {"" if gives_temporal else "no "}temporal '
            'queries; ' +
            ("use STMixerQueryGenerator or set action_branches=('spatial',)"
             if with_temporal_queries else 'build it with '
             'with_temporal_queries=False'))


def check_neck_channels(neck_cfg: dict, feat_channels: int) -> None:
    """The neck's ``out_channels`` is the decoder's ``feat_channels``.

    Args:
        neck_cfg (dict): The neck config (not checked without
            ``out_channels``).
        feat_channels (int): The decoder's feature channels.
    """
    channels = neck_cfg.get('out_channels') if isinstance(neck_cfg,
                                                          dict) else None
    if channels is not None and channels != feat_channels:
        raise ValueError(
            f'neck.out_channels ({channels}) != the decoder feature channels '
            f'(stage_head.sampling_mixing.feat_channels, default '
            f'hidden_channels: {feat_channels})')


def check_pyramid(x: Sequence[Tensor], featmap_strides: Sequence[int],
                  feat_channels: int, temporal_points: int) -> None:
    """The pyramid ``[B, C, T, H_l, W_l]`` fits the decoder's settings.

    Args:
        x (Sequence[Tensor]): The maps ``(B, C, T, H_l, W_l)``.
        featmap_strides (Sequence[int]): One per map.
        feat_channels (int): ``C`` expected.
        temporal_points (int): ``T`` expected.
    """
    if len(x) != len(featmap_strides):
        raise ValueError(
            f'the neck gives {len(x)} feature maps, the decoder expects '
            f'{len(featmap_strides)} '
            f'(featmap_strides {tuple(featmap_strides)})')
    for level, feat in enumerate(x):
        if feat.dim() != 5:
            raise ValueError(
                f'feature map {level} must be [B, C, T, H, W] (or [B, C, H, '
                f'W] for images), got {tuple(feat.shape)}')
        if feat.size(1) != feat_channels:
            raise ValueError(
                f'feature map {level} has {feat.size(1)} channels, the '
                f'decoder expects feat_channels={feat_channels}')
        if feat.size(2) != temporal_points:
            raise ValueError(
                f'feature map {level} has temporal length {feat.size(2)} but '
                f'the stage heads have temporal_points={temporal_points}; '
                'set stage_head.sampling_mixing.temporal_points to the T of '
                'the backbone/neck output (1 for images)')


def check_pyramid_strides(x: Sequence[Tensor], featmap_strides: Sequence[int],
                          input_hw: Tuple[int, int]) -> None:
    """Every map's size is the input's divided by its stride.

    Args:
        x (Sequence[Tensor]): The maps ``(..., H_l, W_l)``.
        featmap_strides (Sequence[int]): One per map.
        input_hw (tuple[int, int]): ``(H, W)`` of the (padded) input;
            ``H_l * s_l`` must be within one stride of ``H`` (and ``W``).
    """
    H, W = input_hw
    for level, (feat, stride) in enumerate(zip(x, featmap_strides)):
        h, w = feat.shape[-2:]
        if not (abs(h * stride - H) < stride and abs(w * stride - W) < stride):
            raise ValueError(
                f'feature map {level} is {h}x{w} for a {H}x{W} input, which '
                f'is not stride {stride} (decoder featmap_strides '
                f'{tuple(featmap_strides)})')


def check_explicit_setting(cfg: dict,
                           name: str,
                           value: Any,
                           where: str,
                           owner: Optional[str] = None) -> dict:
    """``cfg`` with ``name`` set to ``value``; an explicit different value is
    an error naming ``where`` and the ``owner``.

    Args:
        cfg (dict): A part's config.
        name (str): The setting.
        value (Any): Its value (sequences compare as tuples); an explicit
            non-None different one in ``cfg`` raises ValueError.
        where (str): The config path of ``cfg``, for the message.
        owner (str, optional): Whose value it is, for the message.

    Returns:
        dict: A copy of ``cfg`` with ``cfg[name] = value``.
    """
    cfg = dict(cfg)
    if name in cfg and cfg[name] is not None:
        given = cfg[name]
        same = tuple(given) == tuple(value) if isinstance(
            value, (list, tuple)) else given == value
        if not same:
            raise ValueError(f'{where}.{name} ({given}) != {owner or "the"} '
                             f'{name} ({value}); leave it out, it is filled '
                             'in')
    cfg[name] = value
    return cfg


def inject_mask_head_settings(cfg: dict, decoder) -> dict:
    """The mask head config with the decoder's settings filled in.

    Args:
        cfg (dict): The ``mask_head`` config.
        decoder (STMixerDecoder): Gives ``hidden_channels`` (as
            ``query_channels``), ``feat_channels`` and ``featmap_strides``.

    Returns:
        dict: A copy of ``cfg`` with them set.
    """
    return _decoder_filled(
        cfg,
        'mask_head',
        query_channels=decoder.hidden_channels,
        feat_channels=decoder.feat_channels,
        featmap_strides=decoder.featmap_strides)


def _decoder_filled(cfg: dict, where: str, **values) -> dict:
    """``cfg`` with ``values`` filled in by :func:`check_explicit_setting`."""
    cfg = dict(cfg)
    for name, value in values.items():
        cfg = check_explicit_setting(cfg, name, value, where, 'the decoder\'s')
    return cfg


def inject_forecast_head_settings(cfg: dict, decoder) -> dict:
    """The forecast head config with the decoder's ``query_channels``,
    ``num_actions`` and ``with_temporal_queries`` filled in (AVA label
    convention only: sigmoid actions, normalised boxes).

    Args:
        cfg (dict): The ``forecast_head`` config.
        decoder (STMixerDecoder): Gives ``hidden_channels`` (as
            ``query_channels``), ``num_actions`` and
            ``with_temporal_queries``; its ``label_convention`` must be
            ``'ava'`` (else ValueError).

    Returns:
        dict: A copy of ``cfg`` with them set.
    """
    if decoder.label_convention != 'ava':
        raise ValueError(
            'forecast_head needs the stage heads\' label_convention='
            f"'ava', got {decoder.label_convention!r}")
    return _decoder_filled(
        cfg,
        'forecast_head',
        query_channels=decoder.hidden_channels,
        num_actions=decoder.num_actions,
        with_temporal_queries=decoder.with_temporal_queries)


def _decoder_parts_agree(decoder) -> None:
    """The stages agree, and so do each person loss and assigner."""
    check_stage_heads(decoder.stages)
    for stage, assigner in enumerate(decoder.assigners or ()):
        check_person_loss_and_match_costs(decoder.stages[stage].loss_person,
                                          assigner, stage)


def _query_generator_fits(detector) -> None:
    """The query generator gives the queries the decoder reads."""
    decoder = detector.roi_head
    check_query_generator(detector.rpn_head, decoder.hidden_channels,
                          decoder.with_temporal_queries,
                          decoder.action_branches)


def _tubelet_frames_divide(stage) -> None:
    """A tubelet stage head's output frames divide its feature frames."""
    frames = stage.temporal_points
    if frames % stage.num_frames:
        raise ValueError(
            f'num_frames={stage.num_frames} tubelet boxes must divide the '
            f'{frames} feature frames (sampling_mixing.temporal_points)')


declare_rule('STMixerDecoder', _decoder_parts_agree, built=True)
declare_rule('STMixerTubeletStageHead', _tubelet_frames_divide, built=True)
declare_rule('STMixer', _query_generator_fits, built=True)
