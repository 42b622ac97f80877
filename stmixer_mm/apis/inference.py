"""Run an STMixer detector on clips held in memory (as mmdet's
``apis/inference.py``); example: docs/en/useful_tools.md."""
import copy
import os
from itertools import islice
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict

from stmixer_mm.datasets import keyframe_position
from stmixer_mm.datasets.class_names import test_dataset_cfg
from stmixer_mm.datasets.transforms.loading import clip_keyframe
from stmixer_mm.engine import (check_checkpoint_dict, check_checkpoint_fits,
                               checkpoint_state_dict)
from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_ints
from stmixer_mm.utils.part_refusals import REFUSALS, part_refused
from stmixer_mm.utils.type_names import type_name
from .config_files import ConfigSettingError, load_config
from .video_io import VideoReadError, check_frames, is_live_spec, open_source

# transforms (unscoped type names) that sample or read frames: skipped
_CLIP_SAMPLERS = ('SampleAVAFrames', 'SampleFrames', 'SampleTubeFrames',
                  'SampleCausalAVAFrames')
_FRAME_LOADERS = _CLIP_SAMPLERS + ('RawFrameDecode', 'CheckedRawFrameDecode',
                                   'DecordInit', 'DecordDecode', 'OpenCVInit',
                                   'OpenCVDecode', 'PyAVInit', 'PyAVDecode',
                                   'LoadTubeletTargets')


def init_detector(config: Union[str, Config],
                  checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu',
                  cfg_options: Optional[dict] = None,
                  strict: bool = True,
                  fallback_queries: bool = False) -> torch.nn.Module:
    """Build a detector from a config file and load a checkpoint.

    Args:
        config (str | Config): config file,
            ``stmixer_mm::<folder>/<config>.py`` or model name
            (:func:`~stmixer_mm.apis.config_files.resolve_config`), or a
            config object.
        checkpoint (str, optional): None keeps the initial weights.
        device (str | torch.device): where to put the model.
        cfg_options (dict, optional): overrides merged into the config.
        strict (bool): a misfit raises ``CheckpointMismatchError``; False
            loads the matching weights and logs the rest.
        fallback_queries (bool): keep ``test_cfg.num_fallback`` (as AVA eval).

    Returns:
        nn.Module: in eval mode, with ``cfg`` and ``dataset_meta`` (or None).

    Raises:
        FileNotFoundError: A missing config or checkpoint.
        ConfigSettingError: A file that is no config, a name that is no
            config nor model name.
        ValueError: A part that refuses its settings (naming its class).
        CheckpointFileError, CheckpointMismatchError: As named.
    """
    if isinstance(config, str):
        config = load_config(config)
    elif not isinstance(config, Config):
        raise TypeError('config must be a file path or a Config, got '
                        f'{type(config).__name__}')
    config = copy.deepcopy(config)
    if cfg_options is not None:
        config.merge_from_dict(cfg_options)
    if not isinstance(config.get('model'), dict):
        raise ConfigSettingError(
            f'config {config.filename or "(a Config object)"}: no model = '
            'dict(...) in it; expected a detector config (a dataset, '
            'schedule or runtime base alone builds no model)')
    if not fallback_queries and (config.model.get('test_cfg')
                                 or {}).get('rcnn') is not None:
        config.model.test_cfg.rcnn.num_fallback = 0
    init_default_scope(config.get('default_scope', 'mmaction'))
    try:  # each part checks its own settings
        model = MODELS.build(config.model)
    except REFUSALS as e:  # named by the part's config path, as the tools do
        raise part_refused(e, config.model) from e
    model.dataset_meta = None
    if checkpoint is not None:
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
        check_checkpoint_dict(ckpt, f'checkpoint {checkpoint}')
        meta = ckpt.get('meta')
        if isinstance(meta, dict) and isinstance(
                meta.get('dataset_meta'), dict):
            model.dataset_meta = meta['dataset_meta']
        check_checkpoint_fits(
            model,
            ckpt,
            strict=strict,
            source=f'checkpoint {checkpoint}',
            opt_out='strict=False')
        load_state_dict(model, checkpoint_state_dict(ckpt), strict=False)
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def _test_pipeline_cfg(cfg: Config) -> List[dict]:
    """``tools/test.py``'s pipeline: the test (else val) dataset's; the
    top-level ``test_pipeline`` only without one (it may be stale)."""
    dataset = test_dataset_cfg(cfg)
    if dataset is not None and dataset.get('pipeline') is not None:
        return dataset['pipeline']
    for key in ('test_pipeline', 'val_pipeline'):
        if key in cfg:
            return cfg[key]
    raise KeyError('the config has no test_dataloader.dataset.pipeline / '
                   'test_pipeline / val_pipeline to preprocess clips')


def clip_sampling_from_cfg(cfg: Config) -> tuple:
    """``(clip_len, frame_interval)`` of the config's test pipeline."""
    for t in _test_pipeline_cfg(cfg):
        if type_name(t['type']) in _CLIP_SAMPLERS:
            return t['clip_len'], t.get('frame_interval', 1)
    raise KeyError('the test pipeline has no SampleAVAFrames/SampleFrames/'
                   'SampleTubeFrames step that gives clip_len and '
                   'frame_interval')


def clip_keyframe_from_cfg(cfg: Config) -> str:
    """The test clip's keyframe place: ``'last'`` (causal) or ``'centre'``."""
    for t in _test_pipeline_cfg(cfg):
        keyframe = clip_keyframe(t)
        if keyframe is not None:
            return keyframe
    return 'centre'


def tubelet_offsets(model: torch.nn.Module, clip_len: int,
                    frame_interval: int) -> Optional[np.ndarray]:
    """Frame offsets from the keyframe of a tubelet model's output frames
    (``LoadTubeletTargets``' positions).

    Args:
        model (nn.Module): The detector; a tubelet model's decoder tells
            its output positions (``roi_head.output_positions``), its
            keyframe place is read from ``model.cfg`` (``'centre'``
            without one).
        clip_len (int): Frames in a clip.
        frame_interval (int): Video frames between two clip frames.

    Returns:
        np.ndarray | None: Integer offsets in video frames, shape
        (num_frames, ), ascending; None for a keyframe detector.
    """
    positions = getattr(
        getattr(model, 'roi_head', None), 'output_positions', None)
    if positions is None:
        return None
    cfg = getattr(model, 'cfg', None)
    keyframe = 'centre' if cfg is None else clip_keyframe_from_cfg(cfg)
    return (positions(clip_len) -
            keyframe_position(clip_len, keyframe)) * frame_interval


def build_clip_pipeline(cfg: Config) -> Compose:
    """The test pipeline without frame sampling/decoding/tubelet targets."""
    steps = [
        t for t in _test_pipeline_cfg(cfg)
        if type_name(t['type']) not in _FRAME_LOADERS
    ]
    return Compose(steps)


def check_clip(frames: Sequence[np.ndarray], clip_len: int) -> None:
    """Check a clip for :func:`inference_detector`.

    Args:
        frames (Sequence[np.ndarray]): The clip: frames (np.ndarray)
            shape (H, W, 3), RGB uint8, or one array (T, H, W, 3).
        clip_len (int): Frames the model's test pipeline samples.

    Raises:
        ValueError: A wrong length, or a frame (named by its index) of
            the wrong type, shape, size or dtype.
    """
    if not isinstance(frames, (list, tuple, np.ndarray)):
        raise ValueError(
            f'inference_detector: expected a clip of {clip_len} RGB frames '
            '(a list of [H, W, 3] uint8 arrays or a [T, H, W, 3] array), got '
            f'{type(frames).__name__} {frames!r:.80}')
    if len(frames) != clip_len:
        raise ValueError(
            f'inference_detector: expected {clip_len} frames (clip_len of '
            f'the config\'s test pipeline), got {len(frames)}; sample them '
            'around the keyframe with clip_indices()')
    check_frames(frames, 'inference_detector')


def check_batch_size(model: torch.nn.Module, batch_size) -> None:
    """Check the clips per forward pass for ``model``.

    Args:
        model (nn.Module): The detector; one with ``reset_tracks``
            carries tracks from keyframe to keyframe.
        batch_size (int): Clips per forward pass.

    Raises:
        ValueError: ``batch_size`` is not an int >= 1 (naming
            ``STMixerInferencer``), or is > 1 for a
            model with ``reset_tracks``.
    """
    check_ints('STMixerInferencer', batch_size=batch_size)
    if batch_size > 1 and hasattr(model, 'reset_tracks'):
        raise ValueError(
            f'batch_size={batch_size}: a model with track queries '
            f'({type(model).__name__}) carries its tracks from one keyframe '
            'to the next, so it runs one clip at a time (batch_size=1)')


def read_clip(path: Union[str, os.PathLike],
              clip_len: int) -> List[np.ndarray]:
    """Read a video file / frame folder of exactly ``clip_len`` frames
    (at most ``clip_len + 1`` are decoded to tell).

    Args:
        path (str | os.PathLike): Video file or frame folder.
        clip_len (int): Frames the model's test pipeline samples.

    Returns:
        list[np.ndarray]: ``clip_len`` RGB uint8 frames, each shape
        (H, W, 3).

    Raises:
        ValueError: A webcam / stream, or a video of another length.
        VideoReadError: It cannot be read.
    """
    path = os.fsdecode(path)
    use = ('STMixerInferencer detects on a whole video (every stride '
           'frames); or pick the frames around a keyframe with '
           'clip_indices()')
    if is_live_spec(path):
        raise ValueError(
            f'inference_detector: {path!r} is a webcam / stream; it takes '
            f'one clip of {clip_len} frames. {use}')
    takes = (f'inference_detector takes one clip of exactly {clip_len} '
             'frames (clip_len of the config\'s test pipeline): a list of '
             '[H, W, 3] RGB uint8 frames, or a video file / frame folder of '
             f'{clip_len} frames. {use}')
    try:
        source = open_source(path, fps=1.0)  # the rate is not used
        try:  # one more frame than a clip tells a longer video
            frames = [f.image for f in islice(source, clip_len + 1)]
        finally:
            source.close()
    except VideoReadError as e:
        raise VideoReadError(f'{e}; {takes}') from e
    if len(frames) != clip_len:
        raise ValueError(
            f'inference_detector: {path} has '
            f'{"more than " if len(frames) > clip_len else ""}'
            f'{min(len(frames), clip_len)} frames; it takes one clip of '
            f'exactly {clip_len} frames (clip_len of the config\'s test '
            f'pipeline). {use}')
    return frames


@torch.no_grad()
def inference_detector(model: torch.nn.Module,
                       frames: Sequence[np.ndarray],
                       pipeline: Optional[Compose] = None,
                       video_id: Optional[str] = None,
                       timestamp: Optional[int] = None):
    """Detect persons and their actions in one clip.

    Args:
        model (nn.Module): a detector from :func:`init_detector`.
        frames (Sequence[np.ndarray] | str): ``clip_len`` uint8 RGB frames
            ``[H, W, 3]`` around the keyframe (:func:`clip_indices`; other
            dtypes refused), or a video file / frame folder of ``clip_len``.
        pipeline (Compose, optional): default :func:`build_clip_pipeline`.
        video_id (str, optional): ``video_id`` metainfo, for a model with
            state along a video; None: not set.
        timestamp (int, optional): ``timestamp`` metainfo (increasing
            along a video); None: not set.

    Returns:
        ActionDataSample: ``pred_instances.bboxes`` [n, 4] (normalised xyxy),
        ``scores`` [n, num_classes] (column 0 unused), ``person_scores`` [n].

    Raises:
        ValueError: a clip of the wrong length or a bad frame.
    """
    clip_len = clip_sampling_from_cfg(model.cfg)[0]
    if isinstance(frames, (str, bytes, os.PathLike)):
        frames = read_clip(frames, clip_len)
    return inference_clips(model, [frames], pipeline, [video_id],
                           [timestamp])[0]


@torch.no_grad()
def inference_clips(model: torch.nn.Module,
                    clips: Sequence[Sequence[np.ndarray]],
                    pipeline: Optional[Compose] = None,
                    video_ids: Optional[Sequence[Optional[str]]] = None,
                    timestamps: Optional[Sequence[Optional[int]]] = None):
    """Detect in several clips in one forward pass, in order.

    Args:
        model (nn.Module): a detector from :func:`init_detector`.
        clips (Sequence): frame arrays as :func:`inference_detector` takes
            (arrays, not paths).
        pipeline (Compose, optional): as :func:`inference_detector`.
        video_ids (Sequence[str | None], optional): ``video_id`` metainfo,
            one per clip (None: not set).
        timestamps (Sequence[int | None], optional): ``timestamp``
            metainfo, one per clip (None: not set).

    Returns:
        list[ActionDataSample]: One per clip, in order, with
        ``pred_instances`` as :func:`inference_detector` gives them.

    Raises:
        ValueError: ``video_ids`` / ``timestamps`` of another length, or
            a bad clip (:func:`check_clip`).
    """
    clip_len = clip_sampling_from_cfg(model.cfg)[0]
    if pipeline is None:
        pipeline = build_clip_pipeline(model.cfg)
    n = len(clips)
    video_ids = list(video_ids) if video_ids is not None else [None] * n
    timestamps = list(timestamps) if timestamps is not None else [None] * n
    if not (len(video_ids) == len(timestamps) == n):
        raise ValueError(f'inference_clips: {n} clips but '
                         f'{len(video_ids)} video_ids and {len(timestamps)} '
                         'timestamps')
    batch = []
    for frames, video_id, timestamp in zip(clips, video_ids, timestamps):
        check_clip(frames, clip_len)
        h, w = frames[0].shape[:2]
        results = dict(
            imgs=[np.ascontiguousarray(f) for f in frames],
            img_shape=(h, w),
            original_shape=(h, w),
            num_clips=1,
            clip_len=len(frames),
            modality='RGB')
        packed = pipeline(results)
        meta = (('video_id', video_id), ('timestamp', timestamp))
        packed['data_samples'].set_metainfo({
            k: v
            for k, v in meta if v is not None
        })
        batch.append(packed)
    return model.test_step(pseudo_collate(batch))
