"""ONNX export of an STMixer detector for a fixed clip size: normalised clip
in, the last stage's raw outputs out (docs/en/deployment.md)."""
import json
import math
import warnings
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from stmixer_mm.datasets.class_names import classes_to_names
from stmixer_mm.models.detectors.stmixer import STMixer
from stmixer_mm.utils.dependencies import require_extra

#: The graph's outputs, in order (then those of :func:`export_heads`).
OUTPUT_NAMES = ('person_logits', 'action_logits', 'bboxes')


def _task_heads(detector: nn.Module) -> dict:
    """``{name: head}`` of the decoder's task heads (``STMixerHeadsDecoder``;
    none for another decoder)."""
    return getattr(getattr(detector, 'roi_head', None), 'task_heads', {})


def export_heads(detector: nn.Module) -> list:
    """The task heads of ``detector`` whose outputs the graph carries (those
    that name an ``export_output``), in order."""
    return [
        h for h in _task_heads(detector).values()
        if getattr(h, 'export_output', None)
    ]


def output_names(detector: nn.Module) -> List[str]:
    """The graph's outputs for ``detector``, in order."""
    return list(OUTPUT_NAMES) + [
        h.export_output for h in export_heads(detector)
    ]


#: Name of the graph's input.
INPUT_NAME = 'clip'
#: Key of the JSON metadata in the ONNX model's ``metadata_props``.
META_KEY = 'stmixer_mm'
#: Exporters accepted by :func:`export_onnx`.
EXPORTERS = ('torchscript', 'dynamo')
#: Lowest opset with ``GridSample`` (the reference sampling path).
MIN_OPSET = 16


def keyframe_graph_differs(detector: nn.Module) -> Optional[str]:
    """None when the graph plus :func:`~stmixer_mm.apps.deployment.postprocess`
    gives the detector's ``predict``, else the detector's type name."""
    cls = type(detector)
    if cls is STMixer or (isinstance(detector, STMixer)
                          and cls.predict is STMixer.predict
                          and cls._forward is STMixer._forward):
        return None
    return cls.__name__


def check_exportable(detector: nn.Module, keyframe_only: bool = False) -> None:
    """Refuse (with ``keyframe_only``: warn about) a detector whose
    predictions the graph does not give.

    Args:
        detector (nn.Module): The detector to export.
        keyframe_only (bool): Warn, instead of raising, for task heads
            without an ``export_output`` or a detector whose ``predict`` is
            not STMixer's (the keyframe detector is exported). Defaults to
            False.

    Raises:
        ValueError: Tubelet queries; without ``keyframe_only``, such task
            heads or another ``predict``.
    """
    num_frames = getattr(
        getattr(detector, 'roi_head', None), 'num_frames', None)
    if num_frames is not None:
        raise ValueError(
            f'the model has tubelet queries (STMixer-T, {num_frames} boxes '
            'per query): their boxes [B, N, T\', 4] are not what the ONNX '
            'post-processing reads; exporting tubelet models is not '
            'supported (docs/en/tubelets.md)')
    # (what, exported with --keyframe-only, exporting, lost)
    refused = []
    heads = [
        name for name, head in _task_heads(detector).items()
        if not getattr(head, 'export_output', None)
    ]
    if heads:
        refused.append(
            (f'the model has task heads ({", ".join(heads)}) whose outputs '
             'the ONNX graph has no output for',
             'the detector without them (the detections are those of the '
             'model: the heads do not change them)', 'the detections only',
             f'no {", ".join(heads)} outputs'))
    name = keyframe_graph_differs(detector)
    if name is not None:
        refused.append(
            (f'the model is an {name}, whose predict is not the ONNX graph\'s:'
             ' the graph is the keyframe detector (STMixer on one clip, '
             'without any state carried from clip to clip, such as track '
             'queries, which the graph has no input for)',
             'the keyframe detector anyway: its detections are STMixer\'s '
             '(no track ids) and differ from the model\'s',
             'the keyframe detector', 'STMixer\'s detections, no track ids'))
    for what, export_what, exporting, lost in refused:
        if not keyframe_only:
            raise ValueError(
                f'{what}. Pass --keyframe-only (keyframe_only=True) to export '
                f'{export_what}')
        warnings.warn(
            f'{what}; exporting {exporting} (--keyframe-only): {lost}')


def _sampling_cfgs(cfg: Union[Config, ConfigDict, dict]) -> List[dict]:
    """``sampling_mixing.sampling_cfg`` of every stage head config."""
    model_cfg = cfg['model'] if 'model' in cfg else cfg
    stage_head = model_cfg.get('roi_head', {}).get('stage_head')
    heads = stage_head if isinstance(stage_head, (list, tuple)) else \
        [stage_head]
    sampling_cfgs = []
    for i, head in enumerate(heads):
        block = head.get('sampling_mixing') if isinstance(head,
                                                          Mapping) else None
        if not isinstance(block, Mapping) or 'sampling_cfg' not in block:
            raise ValueError(
                'cannot choose the sampling path: model.roi_head.stage_head'
                f'{"" if len(heads) == 1 else f"[{i}]"} has no '
                'sampling_mixing.sampling_cfg (expected an STMixerStageHead '
                'config)')
        sampling_cfgs.append(block['sampling_cfg'])
    return sampling_cfgs


def set_sampling_impl(cfg: Union[Config, ConfigDict, dict], impl: str) -> None:
    """Set ``sampling_cfg.impl`` of every stage head of ``cfg`` (whole or model
    config, in place) to ``impl``; ``ValueError`` without one."""
    for sampling_cfg in _sampling_cfgs(cfg):
        sampling_cfg['impl'] = impl


def get_sampling_impls(cfg: Union[Config, ConfigDict, dict]) -> List[str]:
    """``sampling_cfg.impl`` of every stage head (``'auto'`` where unset)."""
    return [c.get('impl', 'auto') for c in _sampling_cfgs(cfg)]


class STMixerONNXWrapper(nn.Module):
    """The traced module: pads a normalised clip as the data preprocessor
    does; returns the detector's last-stage raw outputs.

    Args:
        detector (nn.Module): An ``STMixer`` in eval mode.
        img_shape (tuple[int, int]): ``(H, W)`` of the un-padded clips.
        pad_size_divisor (int): Pad ``H`` and ``W`` up to multiples of it.
        pad_value (float): Value of the padded (normalised) pixels.
    """

    def __init__(self,
                 detector: nn.Module,
                 img_shape: Tuple[int, int],
                 pad_size_divisor: int = 1,
                 pad_value: float = 0.0) -> None:
        super().__init__()
        self.detector = detector
        self.img_shape = (int(img_shape[0]), int(img_shape[1]))
        self.pad_size_divisor = int(pad_size_divisor)
        self.pad_value = float(pad_value)
        h, w = self.img_shape
        d = self.pad_size_divisor
        self.pad_shape = (math.ceil(h / d) * d, math.ceil(w / d) * d)

    def forward(self, clip: Tensor) -> Tuple[Tensor, ...]:
        """Normalised ``clip [B, 3, T, H, W]`` -> ``person_logits [B, N, K]``,
        ``action_logits [B, N, A]``, ``bboxes [B, N, 4]`` (xyxy pixels) and
        the outputs of :func:`export_heads` (``[B, N, ...]`` each)."""
        h, w = self.img_shape
        pad_h, pad_w = self.pad_shape
        # constants rather than F.pad: after an ONNX Pad the shapes become
        # graph values, which F.layer_norm's normalized_shape cannot take
        b, c, t = clip.shape[:3]
        if pad_h != h:
            clip = torch.cat(
                [clip,
                 clip.new_full((b, c, t, pad_h - h, w), self.pad_value)],
                dim=3)
        if pad_w != w:
            clip = torch.cat([
                clip,
                clip.new_full((b, c, t, pad_h, pad_w - w), self.pad_value)
            ],
                             dim=4)
        samples = [
            InstanceData(metainfo=dict(img_shape=self.img_shape))
            for _ in range(clip.size(0))
        ]
        detector = self.detector
        heads = export_heads(detector)
        if not heads:
            return detector._forward(clip, samples)[-1]
        # _forward's path, keeping the pyramid and queries for the heads
        x = detector.extract_feat(clip)
        proposals = detector.rpn_head.predict(x, samples, rescale=False)
        last = detector.roi_head(x, proposals, samples)[-1]
        return (last['person_logits'], last['action_logits'],
                last['bboxes']) + tuple(
                    head.export_forward(x, last) for head in heads)


def _preprocessor_settings(detector: nn.Module) -> dict:
    """Normalisation and padding of the detector's data preprocessor."""
    dp = detector.data_preprocessor
    settings = dict(
        mean=None,
        std=None,
        to_rgb=bool(getattr(dp, 'to_rgb', False)),
        pad_size_divisor=int(getattr(dp, 'pad_size_divisor', 1)),
        pad_value=float(getattr(dp, 'pad_value', 0.0)))
    if getattr(dp, '_enable_normalize', False):
        settings['mean'] = [float(v) for v in dp.mean.flatten()]
        settings['std'] = [float(v) for v in dp.std.flatten()]
    return settings


def export_meta(detector: nn.Module, clip_shape: Sequence[int],
                batch_size: int) -> dict:
    """The metadata stored with an export (docs/en/deployment.md)."""
    t, h, w = (int(v) for v in clip_shape)
    head = detector.roi_head.stages[-1]
    prep = _preprocessor_settings(detector)
    d = prep['pad_size_divisor']
    heads = {}  # the settings of the task heads' post-processing
    for task_head in export_heads(detector):
        heads.update(task_head.export_meta())
    return dict(
        input_name=INPUT_NAME,
        input_shape=[int(batch_size), 3, t, h, w],
        output_names=output_names(detector),
        **heads,
        img_shape=[h, w],
        pad_shape=[math.ceil(h / d) * d,
                   math.ceil(w / d) * d],
        num_queries=int(detector.rpn_head.num_queries),
        num_actions=int(head.num_actions),
        label_convention=head.label_convention,
        use_sigmoid_person=bool(head.use_sigmoid_person),
        test_cfg=dict(detector.roi_head.test_cfg),
        **prep)


def export_class_names(meta: dict) -> Dict[int, str]:
    """``{column: name}`` of the metadata ``classes`` (ValueError without)."""
    classes = meta.get('classes')
    if not classes:
        raise ValueError('the export has no class names (metadata '
                         "'classes'); pass a label map")
    return classes_to_names(classes)[0]


def export_onnx(detector: nn.Module,
                out_file: str,
                clip_shape: Sequence[int],
                batch_size: int = 1,
                opset: int = 17,
                exporter: str = 'torchscript',
                extra_meta: Optional[dict] = None,
                keyframe_only: bool = False) -> dict:
    """Export a detector for clips of a fixed size.

    Args:
        detector (nn.Module): An ``STMixer`` built with ``impl='reference'``.
        out_file (str): The ``.onnx`` file to write.
        clip_shape (Sequence[int]): ``(T, H, W)`` of the un-padded clips.
        batch_size (int): Clips per call. Defaults to 1.
        opset (int): ONNX opset, >= 16 (17, default: ``LayerNormalization``).
        exporter (str): ``'torchscript'`` (default) or ``'dynamo'``.
        extra_meta (dict, optional): More metadata (e.g. config path).
        keyframe_only (bool): Export the keyframe detector of a model the
            graph does not reproduce (warns; :func:`check_exportable`).

    Returns:
        dict: The metadata stored in the file.

    Raises:
        ValueError: unknown exporter, opset < 16 or a bad clip shape; a
            model the graph does not reproduce.
    """
    require_extra('onnx', 'the ONNX export', ('onnx', ))
    # optional: the [onnx] extra
    import onnx

    check_exportable(detector, keyframe_only)

    if exporter not in EXPORTERS:
        raise ValueError(f'exporter must be one of {EXPORTERS}, got '
                         f'{exporter!r}')
    if opset < MIN_OPSET:
        raise ValueError(f'opset must be >= {MIN_OPSET} (GridSample, used by '
                         f'the sampling), got {opset}')
    clip_shape = tuple(clip_shape)
    if len(clip_shape) != 3 or any(
            not isinstance(v, (int, np.integer)) or v <= 0
            for v in clip_shape) or batch_size <= 0:
        raise ValueError('clip_shape must be three positive ints (T, H, W) '
                         f'and batch_size positive, got {clip_shape} and '
                         f'{batch_size}')
    detector.eval()
    meta = export_meta(detector, clip_shape, batch_size)
    meta.update(exporter=exporter, opset=int(opset), **(extra_meta or {}))
    model_type = keyframe_graph_differs(detector)
    if model_type is not None:
        meta.update(keyframe_only=True, model_type=model_type)
    wrapper = STMixerONNXWrapper(detector, tuple(meta['img_shape']),
                                 meta['pad_size_divisor'],
                                 meta['pad_value']).eval()
    clip = torch.zeros(meta['input_shape'])
    with warnings.catch_warnings():
        # the model's shape checks become constants: fixed-size export
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        kwargs = dict(
            input_names=[INPUT_NAME],
            output_names=list(meta['output_names']),
            opset_version=opset,
            dynamo=exporter == 'dynamo')
        if exporter == 'dynamo':
            kwargs.update(external_data=False)
        torch.onnx.export(wrapper, (clip, ), out_file, **kwargs)
    model = onnx.load(out_file)
    # the opset really written (dynamo raises a lower request to 18)
    meta['opset'] = next(
        int(o.version) for o in model.opset_import
        if o.domain in ('', 'ai.onnx'))
    if meta['opset'] != opset:
        meta['requested_opset'] = int(opset)
    del model.metadata_props[:]
    prop = model.metadata_props.add()
    prop.key, prop.value = META_KEY, json.dumps(meta)
    onnx.checker.check_model(model)
    onnx.save(model, out_file)
    return meta


def read_export_meta(onnx_file: str) -> dict:
    """The metadata :func:`export_onnx` stored in an ONNX file
    (``ValueError`` without)."""
    import onnx

    model = onnx.load(onnx_file, load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == META_KEY:
            return json.loads(prop.value)
    raise ValueError(f'{onnx_file} has no {META_KEY!r} metadata; export it '
                     'with stmixer-export-onnx (tools/deployment/'
                     'export_onnx.py in a checkout)')


def normalize_clip(frames: Union[np.ndarray, Sequence[np.ndarray]],
                   meta: Mapping) -> np.ndarray:
    """The graph's normalised ``[1, 3, T, H, W]`` float32 input from frames.

    Args:
        frames (np.ndarray | list[np.ndarray]): ``[T, H, W, 3]`` RGB as the
            test pipeline gives them (resized), any numeric dtype.
        meta (Mapping): :func:`read_export_meta`.

    Raises:
        ValueError: the frames do not have the exported size.
    """
    clip = np.asarray(frames, dtype=np.float32)
    _, _, t, h, w = meta['input_shape']
    if clip.shape != (t, h, w, 3):
        raise ValueError(f'the model was exported for {t} frames of '
                         f'{h}x{w}x3 (T, H, W, C), got frames of shape '
                         f'{clip.shape}')
    clip = clip.transpose(3, 0, 1, 2)  # [3, T, H, W]
    if meta['to_rgb']:
        clip = clip[::-1]
    if meta['mean'] is not None:
        mean = np.asarray(meta['mean'], np.float32).reshape(-1, 1, 1, 1)
        std = np.asarray(meta['std'], np.float32).reshape(-1, 1, 1, 1)
        clip = (clip - mean) / std
    return np.ascontiguousarray(clip[None], dtype=np.float32)


def create_ort_session(onnx_file: str, threads: Optional[int] = None):
    """An ONNX Runtime CPU session; ``threads`` intra-op threads and 1
    inter-op (None: ONNX Runtime's choice)."""
    require_extra('onnx', 'running an exported model', ('onnxruntime', ))
    # optional: the [onnx] extra
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return ort.InferenceSession(
        onnx_file, options, providers=['CPUExecutionProvider'])


def run_ort(session, clip: np.ndarray) -> List[np.ndarray]:
    """Outputs (:data:`OUTPUT_NAMES` order, then the task heads' in the
    graph's order) on a normalised clip ``[B, 3, T, H, W]``."""
    names = [o.name for o in session.get_outputs()]
    wanted = list(OUTPUT_NAMES) + [n for n in names if n not in OUTPUT_NAMES]
    return session.run(wanted, {INPUT_NAME: clip})
