"""The declared settings of this project's parts (and of the mmaction2
data types its configs set), their store, and the whole-config rule (model
vs data classes); :mod:`.settings` checks them."""
from typing import Any, Callable, Dict, List, Optional, Tuple

from .setting_types import (IOU_THRESHOLD, NON_NEGATIVE,  # noqa: F401
                            POSITIVE, POSITIVE_FLOAT, PROBABILITY, Bool,
                            Choice, Fields, Float, Int, Seq, Setting, Str,
                            check_iou_threshold, check_probability, is_int)
from .type_names import type_name as _type_name

#: type name (without scope) -> {argument: Setting}
DECLARED: Dict[str, Dict[str, Setting]] = {}
#: type name -> [rule(cfg) -> problem | None] over several of its fields
RULES: Dict[str, List[Callable[[dict], Optional[str]]]] = {}
#: type name -> [rule(built object)] raising ValueError: settings that the
#: parts of a built object share, checked once it is built
BUILT_RULES: Dict[str, List[Callable[[Any], None]]] = {}
#: [rule(whole config) -> problem | None] over several sections
CONFIG_RULES: List[Callable[[Any], Optional[str]]] = []


def declare_settings(type_name: str, **settings: Setting) -> None:
    """Declare (or extend) the settings of a registered type.

    Args:
        type_name (str): The registered name, unscoped (``'STMixer'``).
        **settings (Setting): One per ``__init__`` argument (or a
            :class:`Fields` for a nested dict).
    """
    DECLARED.setdefault(type_name, {}).update(settings)


def declare_rule(type_name: str,
                 rule: Callable[[Any], Optional[str]],
                 built: bool = False) -> None:
    """Declare a check over several settings of one type.

    Args:
        type_name (str): The registered name, unscoped.
        rule (Callable): ``rule(cfg)`` returns None or the problem (field
            names first); with ``built=True``, ``rule(obj)`` checks the
            object right after it is built (defaults filled in) and raises
            ``ValueError`` naming the settings on both sides.
        built (bool): Whether the rule reads the built object.
    """
    store = BUILT_RULES if built else RULES
    store.setdefault(type_name, []).append(rule)


def declare_config_rule(rule: Callable[[Any], Optional[str]]) -> None:
    """Declare a check over several sections of a whole config:
    ``rule(cfg)`` returns None or the problem, naming the config paths."""
    CONFIG_RULES.append(rule)


# --- model -----------------------------------------------------------------
#: the decoder's test_cfg (the detector's test_cfg.rcnn): key -> (setting,
#: default per label convention; no default: the convention refuses the key)
_TEST_CFG_KEYS = dict(
    person_threshold=(PROBABILITY, dict(ava=0.6)),
    num_fallback=(NON_NEGATIVE, dict(ava=3)),
    max_per_img=(POSITIVE, dict(mmdet=100)),
    multiply_person_score=(Bool(), dict(ava=False, mmdet=True)))
TEST_CFG = Fields(**{
    key: setting
    for key, (setting, _) in _TEST_CFG_KEYS.items()
})
#: accepted ``test_cfg`` keys and defaults per label convention (read by the
#: box head and by ``stmixer_mm.deployment``'s numpy post-processing)
TEST_CFG_DEFAULTS = {
    convention: {
        key: defaults[convention]
        for key, (_, defaults) in _TEST_CFG_KEYS.items()
        if convention in defaults
    }
    for convention in ('ava', 'mmdet')
}
#: STMixer's ``compile_cfg`` (``stmixer_mm.models.detectors.compile``)
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs')
COMPILE_CFG = Fields(
    strict=True, mode=Choice(*COMPILE_MODES), backend=Str(), fullgraph=Bool())
declare_settings(
    'STMixer',
    test_cfg=Fields(
        strict=True,
        hint="mmdet's two-stage layout: test_cfg=dict(rpn=None, "
        "rcnn=dict(...)), the decoder's settings under rcnn",
        rpn=Fields(),
        rcnn=TEST_CFG),
    compile_cfg=COMPILE_CFG,
    frozen_modules=Seq(Str()))
declare_settings(
    'STMixerDecoder',
    num_stages=POSITIVE,
    stage_loss_weights=Seq(Float(min=0), optional=True),
    featmap_strides=Seq(POSITIVE_FLOAT, min_length=1),
    with_cp=Bool(),
    test_cfg=TEST_CFG)
SAMPLING_CFG = Fields(
    mapping_stride=Float(0, min_open=True),
    tau=Float(0, min_open=True),
    impl=Choice('reference', 'pytorch', 'mmcv', 'auto'))
# (stage_head.sampling_mixing: checked with STMixerSamplingMixing's)
declare_settings(
    'STMixerStageHead',
    num_actions=POSITIVE,
    hidden_channels=POSITIVE,
    num_heads=POSITIVE,
    feedforward_channels=POSITIVE,
    num_ffn_fcs=POSITIVE,
    dropout=Float(0, 1, max_open=True),
    num_person_fcs=NON_NEGATIVE,
    num_reg_fcs=NON_NEGATIVE,
    num_action_fcs=NON_NEGATIVE,
    featmap_strides=Seq(POSITIVE_FLOAT, min_length=1),
    action_prior_prob=Float(0, 1, min_open=True, max_open=True),
    action_branches=Seq(Choice('spatial', 'temporal'), min_length=1),
    label_convention=Choice('ava', 'mmdet'))
declare_settings(
    'STMixerTubeletStageHead',
    num_frames=POSITIVE,
    box_loss_weighting=Choice('tubelet', 'frame'),
    frame_box_features=Choice(False, True, 'clip'))


def _ava_labels_only(cfg) -> Optional[str]:
    convention = cfg.get('label_convention', 'ava')
    if convention != 'ava':
        return ("label_convention: STMixerTubeletStageHead supports "
                f"label_convention='ava' only, got {convention!r}")
    return None


declare_rule('STMixerTubeletStageHead', _ava_labels_only)
declare_settings(
    'STMixerSamplingMixing',
    hidden_channels=POSITIVE,
    feat_channels=Int(min=1, optional=True),
    spatial_points=POSITIVE,
    temporal_points=POSITIVE,
    out_multiplier=POSITIVE,
    num_groups=POSITIVE,
    featmap_strides=Seq(POSITIVE_FLOAT, min_length=1),
    sampling_cfg=SAMPLING_CFG,
    offset_bandwidth=Float(0, min_open=True))
declare_settings(
    'AdaptiveMixing',
    in_dim=POSITIVE,
    in_points=POSITIVE,
    num_groups=POSITIVE,
    query_dim=Int(min=1, optional=True),
    out_dim=Int(min=1, optional=True),
    out_points=Int(min=1, optional=True),
    sampling_rate=Int(min=1, optional=True))
declare_settings(
    'STMixerQueryGenerator',
    num_queries=POSITIVE,
    hidden_channels=POSITIVE,
    with_temporal_queries=Bool(),
    num_classes=Int(min=1, optional=True))
declare_settings(
    'STMixerLateralNeck',
    in_channels=Seq(POSITIVE, min_length=1),
    out_channels=POSITIVE)
declare_settings(
    'STMixerViTNeck',
    out_channels=POSITIVE,
    scales=Seq(Float(0, min_open=True), min_length=1))
declare_settings(
    'STMixerDataPreprocessor',
    mean=Seq(Float(), optional=True),
    std=Seq(Float(0, min_open=True), optional=True),
    to_rgb=Bool(),
    to_float32=Bool(),
    pad_size_divisor=POSITIVE,
    pad_value=Float())
declare_settings(
    'STMixerForecastHead',
    horizons=Seq(POSITIVE, min_length=1),
    num_actions=POSITIVE,
    query_channels=POSITIVE,
    num_fcs=NON_NEGATIVE,
    roi_grid=NON_NEGATIVE,
    roi_frames=POSITIVE,
    detach_inputs=Bool())


def _ascending(key: str):

    def rule(cfg) -> Optional[str]:
        horizons = cfg.get(key)
        if isinstance(horizons, (list, tuple)) and \
                list(horizons) != sorted(set(horizons)):
            return (f'{key} must be ascending frame counts >= 1, got '
                    f'{tuple(horizons)}')
        return None

    return rule


declare_rule('STMixerForecastHead', _ascending('horizons'))

# --- data ------------------------------------------------------------------
declare_settings(
    'TubeDataset',
    ann_file=Str(),
    split=NON_NEGATIVE,
    test_mode=Bool(),
    keyframe_stride=POSITIVE,
    filename_tmpl=Str(),
    start_index=NON_NEGATIVE,
    use_frames=Bool(),
    video_ext=Str(),
    box_check=Choice('error', 'clip'),
    check_files=Bool(),
    num_classes=Int(min=1, optional=True),
    classes=Seq(Str(), min_length=1, optional=True),
    forecast_horizons=Seq(POSITIVE))
AVA_DATASET = dict(
    ann_file=Str(),
    exclude_file=Str(optional=True),
    label_file=Str(optional=True),
    filename_tmpl=Str(),
    start_index=NON_NEGATIVE,
    proposal_file=Str(optional=True),
    person_det_score_thr=PROBABILITY,
    num_classes=Int(min=2),
    num_max_proposals=POSITIVE,
    timestamp_start=NON_NEGATIVE,
    timestamp_end=NON_NEGATIVE,
    fps=POSITIVE,
    test_mode=Bool(),
    use_frames=Bool())
declare_settings('AVADataset', **AVA_DATASET)
declare_settings(
    'ValidatedAVADataset',
    unlisted_labels=Choice('error', 'warn'),
    degenerate_boxes=Choice('error', 'drop'),
    forecast_horizons=Seq(POSITIVE),
    **AVA_DATASET)


def _timestamps(cfg):
    start, end = cfg.get('timestamp_start'), cfg.get('timestamp_end')
    if isinstance(start, int) and isinstance(end, int) and end <= start:
        return (f'timestamp_end ({end}) must be after timestamp_start '
                f'({start})')
    return None


def _tube_classes(cfg):
    classes, num = cfg.get('classes'), cfg.get('num_classes')
    if isinstance(classes, (list, tuple)) and isinstance(num, int) and \
            len(classes) != num:
        return (f'classes names {len(classes)} classes but num_classes is '
                f'{num}')
    if isinstance(classes, (list, tuple)) and \
            len(set(classes)) != len(classes):
        return f'classes has duplicate names: {list(classes)}'
    return None


#: pipeline steps that read frame folders, and those that read videos
FRAME_READERS = ('RawFrameDecode', 'CheckedRawFrameDecode')
VIDEO_READERS = ('DecordInit', 'DecordDecode', 'PyAVInit', 'PyAVDecode',
                 'OpenCVInit', 'OpenCVDecode')


def _tube_reader(cfg):
    """The pipeline reads what ``use_frames`` gives a sample: frame folders
    (``frame_dir``) or videos (``filename``)."""
    use_frames = cfg.get('use_frames', True)
    pipeline = cfg.get('pipeline')
    if not isinstance(use_frames, bool) or not isinstance(
            pipeline, (list, tuple)):
        return None
    wrong = FRAME_READERS if not use_frames else VIDEO_READERS
    for i, step in enumerate(pipeline):
        kind = _type_name(step.get('type')) if isinstance(step, dict) else ''
        if kind in wrong:
            reads, use = (('videos',
                           'DecordInit / DecordDecode') if not use_frames else
                          ('frame folders', 'RawFrameDecode'))
            return (f'pipeline[{i}] is {kind}, but use_frames={use_frames} '
                    f'gives each sample {reads}; use {use} (or set '
                    f'use_frames={not use_frames})')
    return None


declare_rule('AVADataset', _timestamps)
declare_rule('ValidatedAVADataset', _timestamps)
declare_rule('TubeDataset', _tube_classes)
declare_rule('TubeDataset', _tube_reader)
declare_rule('TubeDataset', _ascending('forecast_horizons'))


def clip_keyframe(step: Any) -> Optional[str]:
    """Where a sampler step puts the keyframe in its clip: ``'last'``
    (causal / ``keyframe='last'``), ``'centre'``, or None (not a sampler)."""
    kind = _type_name(step.get('type')) if isinstance(step, dict) else ''
    if kind == 'SampleCausalAVAFrames':
        return 'last'
    if kind == 'SampleTubeFrames':
        return step.get('keyframe', 'centre')
    return 'centre' if kind == 'SampleAVAFrames' else None


def _causal_clips(cfg) -> Optional[str]:
    """A forecast's clip ends at its keyframe: with ``forecast_horizons``
    no sampler of the pipeline centres it (:func:`clip_keyframe`)."""
    pipeline = cfg.get('pipeline')
    if not cfg.get('forecast_horizons') or not isinstance(
            pipeline, (list, tuple)):
        return None
    for i, step in enumerate(pipeline):
        keyframe = clip_keyframe(step)
        if keyframe in (None, 'last'):
            continue
        kind = _type_name(step['type'])
        where = (f'forecast_horizons={tuple(cfg["forecast_horizons"])} but '
                 f'pipeline[{i}] {kind}')
        if kind == 'SampleTubeFrames':
            return (f'{where} has keyframe={keyframe!r}: its clip shows '
                    'frames after the keyframe, the future the forecast is '
                    "of; set keyframe='last'")
        return (f'{where} centres the clip on the keyframe: it shows frames '
                'after it, the future the forecast is of; use '
                'SampleCausalAVAFrames')
    return None


declare_rule('TubeDataset', _causal_clips)
declare_rule('ValidatedAVADataset', _causal_clips)
declare_rule('ValidatedAVADataset', _ascending('forecast_horizons'))
declare_settings('LoadTubeletTargets', num_frames=POSITIVE)
declare_settings(
    'SampleTubeFrames',
    clip_len=POSITIVE,
    frame_interval=POSITIVE,
    test_mode=Bool(),
    keyframe=Choice('centre', 'last'))
for _sampler in ('SampleAVAFrames', 'SampleCausalAVAFrames'):
    declare_settings(
        _sampler, clip_len=POSITIVE, frame_interval=POSITIVE, test_mode=Bool())
declare_settings(
    'RandomShortSideResize',
    scale_range=Seq(POSITIVE, length=2),
    max_long_edge=POSITIVE,
    interpolation=Choice('nearest', 'bilinear', 'bicubic', 'area', 'lanczos'))
declare_settings('Flip', flip_ratio=PROBABILITY)

# --- metrics ---------------------------------------------------------------
declare_settings(
    'AVAMetric',
    ann_file=Str(),
    label_file=Str(),
    exclude_file=Str(optional=True),
    num_classes=Int(min=2))
# (TubeMetric's settings: at the bottom of evaluation/metrics/tube_metric.py)

# --- backbones (fused / oneDNN paths; stmixer_mm/models/backbones) ---------
declare_settings('STMixerVisionTransformer', attn_impl=Choice('sdpa', 'naive'))
for _backbone in ('STMixerResNet3dSlowOnly', 'ResNet3dSlowFastMultiLevel'):
    declare_settings(_backbone, conv3d_impl=Choice('onednn', 'native'))

# --- the model against the data (a rule over the whole config) ---------
#: types whose ``num_classes`` counts background column 0 (AVA ids are
#: 1-based), and those counting action labels (label i is column i + 1)
CLASSES_WITH_BACKGROUND = ('AVADataset', 'ValidatedAVADataset', 'AVAMetric')
CLASSES_WITHOUT_BACKGROUND = ('TubeDataset', )


def check_action_classes(num_actions: int, label_convention: str,
                         num_classes: int, data_type: str) -> None:
    """The decoder's ``num_actions`` fits a dataset's / metric's classes,
    else ``ValueError``: with ``label_convention='ava'`` (``num_actions + 1``
    columns, 0 the background) AVA types need ``num_classes - 1``,
    ``TubeDataset`` ``num_classes``; others and ``'mmdet'`` are unchecked."""
    if label_convention != 'ava':
        return
    data_type = data_type.split('.')[-1]
    if data_type in CLASSES_WITH_BACKGROUND:
        expected = num_classes - 1
        why = (f'{data_type} num_classes={num_classes} counts the '
               'background column 0')
    elif data_type in CLASSES_WITHOUT_BACKGROUND:
        expected = num_classes
        why = f'{data_type} has {num_classes} action labels'
    else:
        return
    if num_actions != expected:
        raise ValueError(
            f'the decoder has num_actions={num_actions} but {why}, so the '
            f'model needs num_actions={expected}; with another number every '
            'action column would be read as another class')


def model_action_classes(model_cfg: dict) -> Optional[Tuple[int, str, str]]:
    """``(num_actions, label_convention, config path)`` of an STMixer
    model config, None when it has no ``STMixerStageHead``."""
    if not isinstance(model_cfg, dict):
        return None
    decoder = model_cfg.get('decoder') or model_cfg.get('roi_head')
    if not isinstance(decoder, dict):
        return None
    key = 'decoder' if 'decoder' in model_cfg else 'roi_head'
    heads = decoder.get('stage_head')
    if isinstance(heads, dict):
        heads, path = [heads], f'model.{key}.stage_head'
    elif isinstance(heads, (list, tuple)) and heads:
        path = f'model.{key}.stage_head[0]'
    else:
        return None
    head = heads[0]
    if _type_name(head.get('type')) != 'STMixerStageHead':
        return None
    return (head.get('num_actions',
                     80), head.get('label_convention',
                                   'ava'), f'{path}.num_actions')


def loader_dataset_cfg(loader: Any) -> Optional[dict]:
    """The innermost dataset config of a dataloader config (through
    RepeatDataset / ClassBalancedDataset wrappers)."""
    if not isinstance(loader, dict):
        return None
    dataset = loader.get('dataset')
    while isinstance(dataset, dict) and isinstance(
            dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    return dataset if isinstance(dataset, dict) else None


def class_entries(cfg) -> List[Tuple[str, dict]]:
    """``(config path, dict)`` of the innermost dataset of each dataloader
    and of each metric of the evaluators (``val_evaluator`` or
    ``val_evaluator[i]``)."""
    entries: List[Tuple[str, dict]] = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = loader_dataset_cfg(cfg.get(loader))
        if dataset is not None:
            entries.append((f'{loader}.dataset', dataset))
    for evaluator in ('val_evaluator', 'test_evaluator'):
        metrics = cfg.get(evaluator)
        if isinstance(metrics, dict):
            metrics = [metrics]
        for i, metric in enumerate(metrics or []):
            if isinstance(metric, dict):
                suffix = '' if isinstance(cfg.get(evaluator), dict) else \
                    f'[{i}]'
                entries.append((f'{evaluator}{suffix}', metric))
    return entries


def model_classes_fit_data(cfg) -> Optional[str]:
    """The model's action classes against each ``num_classes`` in the config
    (counts from annotation files: :class:`ClassConsistencyHook`)."""
    model = cfg.get('model')
    model = model.to_dict() if hasattr(model, 'to_dict') else model
    found = model_action_classes(model)
    if found is None:
        return None
    num_actions, convention, model_path = found
    for path, entry in class_entries(cfg):
        num_classes = entry.get('num_classes')
        kind = _type_name(entry.get('type'))
        if num_classes is None or not is_int(num_classes):
            continue
        try:
            check_action_classes(num_actions, convention, num_classes, kind)
        except ValueError as e:
            return (f'{model_path} ({num_actions}) and {path}.num_classes '
                    f'({num_classes}) do not fit: {e}')
    return None


declare_config_rule(model_classes_fit_data)

#: the lengths of mmengine's training loops (``train_cfg``), any loop type
#: (``EpochBasedTrainLoop``, ``IterBasedTrainLoop``, ``by_epoch=...``)
TRAIN_LOOP_LENGTHS = {
    'max_epochs': 'the number of epochs to train; below 1 nothing is trained',
    'max_iters':
    'the number of iterations to train; below 1 nothing is trained',
    'val_interval': 'the epochs / iterations between two validations',
}


def train_loop_lengths(cfg) -> Optional[str]:
    """Config rule: ``train_cfg.max_epochs`` / ``max_iters`` /
    ``val_interval``, where set, are positive ints (0 trained nothing and
    exited 0 without a checkpoint; a ``val_interval`` of 0 divides by
    zero after the first epoch).

    Args:
        cfg (Config | dict): The merged config.

    Returns:
        str | None: The problem, naming ``train_cfg.<key>``.
    """
    loop = cfg.get('train_cfg') if hasattr(cfg, 'get') else None
    if not hasattr(loop, 'get'):
        return None
    for key, what in TRAIN_LOOP_LENGTHS.items():
        if key in loop:
            problem = POSITIVE.problem(loop[key])
            if problem is not None:
                return f'train_cfg.{key}: {problem} ({what})'
    return None


declare_config_rule(train_loop_lengths)
