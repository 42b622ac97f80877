"""Clip sampling (tube datasets, causal AVA clips) and frame decoding that
names the bad frame."""
import copy
import os.path as osp
from typing import Any, Optional

import mmcv
import numpy as np
from mmaction.datasets.transforms import RawFrameDecode, SampleAVAFrames
from mmcv.transforms import BaseTransform
from mmengine.fileio import get_file_backend

from stmixer_mm.registry import TRANSFORMS
from stmixer_mm.utils.checks import check_choice, check_ints
from stmixer_mm.utils.type_names import type_name

JPEG_SOI = b'\xff\xd8'
JPEG_EOI = b'\xff\xd9'


def decode_frame(content: bytes, where: str) -> np.ndarray:
    """Decode one RGB frame (``[H, W, 3]`` uint8), refusing bad files.

    Args:
        content (bytes): The file's bytes.
        where (str): The file (and its video / keyframe) for the message.

    Returns:
        np.ndarray: uint8, shape (H, W, 3), RGB.

    Raises:
        ValueError: ``'<where>: <problem>'``: empty, corrupt, or a JPEG without
            EOI ``FF D9`` (OpenCV decodes cut files with grey rows).
    """
    if not content:
        raise ValueError(f'{where}: the frame file is empty (0 bytes)')
    if content[:2] == JPEG_SOI and \
            content.rstrip(b'\x00\r\n\t ')[-2:] != JPEG_EOI:
        raise ValueError(
            f'{where}: truncated JPEG ({len(content)} bytes, no end-of-image '
            'marker FF D9); re-extract the frames')
    try:
        img = mmcv.imfrombytes(content, channel_order='rgb')
    except Exception as e:  # cv2.error from cvtColor on a failed decode
        raise ValueError(
            f'{where}: cannot decode the frame '
            f'({type(e).__name__}: {str(e).strip()[:200]})') from None
    if img is None or img.size == 0:
        raise ValueError(f'{where}: cannot decode the frame (corrupt or not '
                         'an image)')
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{where}: decoded to shape {img.shape}, expected '
                         'an RGB image [H, W, 3]')
    return img


@TRANSFORMS.register_module()
class CheckedRawFrameDecode(RawFrameDecode):
    """mmaction2's ``RawFrameDecode`` (same keys; flow frames unchanged)
    whose errors on a bad or missing RGB frame name the file, video,
    keyframe and clip position."""

    @staticmethod
    def _where(results: dict,
               filepath: str,
               frame_idx: Optional[int] = None) -> str:
        video = results.get('video_id', osp.basename(results['frame_dir']))
        parts = [f'video {video}']
        if 'timestamp' in results:
            parts.append(f'keyframe timestamp {results["timestamp"]}')
        if frame_idx is not None:
            parts.append(f'frame index {frame_idx}')
        return f'{filepath} ({", ".join(parts)})'

    def _read(self, filepath: str, where: str) -> bytes:
        try:
            return self.file_client.get(filepath)
        except FileNotFoundError:
            raise FileNotFoundError(f'{where}: frame file not found') from None

    def transform(self, results: dict) -> Optional[dict]:
        if results['modality'] != 'RGB':
            return super().transform(results)
        mmcv.use_backend(self.decoding_backend)
        if self.file_client is None:
            # mmengine's backend API (RawFrameDecode's FileClient logs
            # deprecation warnings); 'disk' is its 'local'
            backend = 'local' if self.io_backend == 'disk' else \
                self.io_backend
            self.file_client = get_file_backend(
                backend_args=dict(backend=backend, **self.kwargs))
        if results['frame_inds'].ndim != 1:
            results['frame_inds'] = np.squeeze(results['frame_inds'])
        offset = results.get('offset', 0)
        imgs, cache = [], {}
        for i, frame_idx in enumerate(results['frame_inds']):
            if frame_idx in cache:
                imgs.append(copy.deepcopy(imgs[cache[frame_idx]]))
                continue
            cache[frame_idx] = i
            frame_idx += offset
            filepath = osp.join(results['frame_dir'],
                                results['filename_tmpl'].format(frame_idx))
            where = self._where(results, filepath, int(frame_idx))
            imgs.append(decode_frame(self._read(filepath, where), where))
        shapes = {img.shape for img in imgs}
        if len(shapes) != 1:
            raise ValueError(
                f'{self._where(results, results["frame_dir"])}: the frames '
                f'of one clip have different sizes {sorted(shapes)}')
        results['imgs'] = imgs
        results['original_shape'] = imgs[0].shape[:2]
        results['img_shape'] = imgs[0].shape[:2]
        # as RawFrameDecode: boxes (normalised in AVA) scaled to pixels
        if 'gt_bboxes' in results:
            h, w = results['img_shape']
            scale_factor = np.array([w, h, w, h])
            results['gt_bboxes'] = (results['gt_bboxes'] *
                                    scale_factor).astype(np.float32)
            if results.get('proposals') is not None:
                results['proposals'] = (results['proposals'] *
                                        scale_factor).astype(np.float32)
        return results


#: a clip's keyframe: ``'centre'`` (``clip_len // 2``) or ``'last'`` (causal)
KEYFRAME_POSITIONS = ('centre', 'last')


def keyframe_position(clip_len: int, keyframe: str = 'centre') -> int:
    """The clip position of the keyframe (see :data:`KEYFRAME_POSITIONS`).

    Args:
        clip_len (int): Frames of the clip.
        keyframe (str): ``'centre'`` or ``'last'``. Defaults to
            ``'centre'``.

    Returns:
        int: 0-based position: ``clip_len // 2`` or ``clip_len - 1``.

    Raises:
        ValueError: ``keyframe`` is not one of the positions.
    """
    if keyframe not in KEYFRAME_POSITIONS:
        raise ValueError(f'keyframe must be one of {KEYFRAME_POSITIONS}, '
                         f'got {keyframe!r}')
    return clip_len // 2 if keyframe == 'centre' else clip_len - 1


def tube_clip_frames(keyframe: int,
                     nframes: int,
                     clip_len: int,
                     frame_interval: int,
                     offsets: Optional[np.ndarray] = None,
                     position: str = 'centre') -> np.ndarray:
    """1-based int64 frames of a clip, clamped to ``[1, nframes]``:
    ``keyframe + (i - p) * frame_interval (+ offsets[i])``.

    Args:
        keyframe (int): 1-based keyframe.
        nframes (int): Frames of the video.
        clip_len (int): Frames of the clip.
        frame_interval (int): Step between them.
        offsets (np.ndarray, optional): ``[clip_len]`` jitter.
        position (str): Keyframe place ``p``: ``'centre'`` or ``'last'``.

    Returns:
        np.ndarray: int64, shape (clip_len, ), 1-based frames in
        ``[1, nframes]``.
    """
    pos = keyframe_position(clip_len, position)
    frames = keyframe + (np.arange(clip_len) - pos) * frame_interval
    if offsets is not None:
        frames = frames + offsets
    return np.clip(frames, 1, nframes).astype(np.int64)


def clip_keyframe(step: Any) -> Optional[str]:
    """Where a sampler step puts the keyframe in its clip.

    Args:
        step (Any): A pipeline step's config.

    Returns:
        str | None: ``'last'`` (causal / ``keyframe='last'``), ``'centre'``,
        or None (not a sampler).
    """
    kind = type_name(step.get('type')) if isinstance(step, dict) else ''
    if kind == 'SampleCausalAVAFrames':
        return 'last'
    if kind == 'SampleTubeFrames':
        return step.get('keyframe', 'centre')
    return 'centre' if kind == 'SampleAVAFrames' else None


@TRANSFORMS.register_module()
class SampleTubeFrames(BaseTransform):
    """Sample a clip centred on (or ending at) a keyframe, clamped at the
    video's ends. Required keys: ``timestamp`` (1-based keyframe),
    ``total_frames``, ``start_index`` (index of frame 1: 1 frame folders, 0
    videos). Adds ``SampleAVAFrames``' keys (``frame_inds``, ``clip_len``,
    ``frame_interval``, ``num_clips``, ``crop_quadruple``).

    Args:
        clip_len (int): Frames per clip.
        frame_interval (int): Temporal stride. Defaults to 1.
        test_mode (bool): No jitter (training shifts every frame but the
            keyframe by ``[-frame_interval // 2, (frame_interval - 1) // 2]``).
        keyframe (str): ``'centre'`` or ``'last'`` (a causal clip ending at
            the keyframe). Defaults to ``'centre'``.
    """

    def __init__(self,
                 clip_len: int,
                 frame_interval: int = 1,
                 test_mode: bool = False,
                 keyframe: str = 'centre') -> None:
        owner = 'SampleTubeFrames'
        check_ints(owner, clip_len=clip_len, frame_interval=frame_interval)
        check_choice(owner, (True, False), test_mode=test_mode)
        check_choice(owner, ('centre', 'last'), keyframe=keyframe)
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.test_mode = test_mode
        self.keyframe = keyframe
        self._position = keyframe_position(clip_len, keyframe)

    def transform(self, results: dict) -> dict:
        offsets = None
        if not self.test_mode and self.frame_interval > 1:
            offsets = np.random.randint(
                -(self.frame_interval // 2), (self.frame_interval + 1) // 2,
                size=self.clip_len)
            offsets[self._position] = 0  # the keyframe is the keyframe
            if self.keyframe == 'last':  # jitter never reaches past it
                offsets = np.minimum(offsets, 0)
        frames = tube_clip_frames(
            int(results['timestamp']), int(results['total_frames']),
            self.clip_len, self.frame_interval, offsets, self.keyframe)
        results['frame_inds'] = (frames - 1 +
                                 results.get('start_index', 1)).astype(
                                     np.int64)
        results['clip_len'] = self.clip_len
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = 1
        results['crop_quadruple'] = np.array([0, 0, 1, 1], dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(clip_len={self.clip_len}, '
                f'frame_interval={self.frame_interval}, '
                f'test_mode={self.test_mode}, keyframe={self.keyframe!r})')


@TRANSFORMS.register_module()
class SampleCausalAVAFrames(SampleAVAFrames):
    """mmaction2's ``SampleAVAFrames`` with the clip ending at the keyframe
    (causal); the training jitter never moves or passes the keyframe.

    Args:
        clip_len (int): Frames per clip.
        frame_interval (int): Temporal stride. Defaults to 2.
        test_mode (bool): No jitter. Defaults to False.
    """

    def __init__(self,
                 clip_len: int,
                 frame_interval: int = 2,
                 test_mode: bool = False) -> None:
        owner = 'SampleCausalAVAFrames'
        check_ints(owner, clip_len=clip_len, frame_interval=frame_interval)
        check_choice(owner, (True, False), test_mode=test_mode)
        super().__init__(clip_len, frame_interval, test_mode)

    def _get_clips(self, center_index, skip_offsets, shot_info):
        frame_inds = center_index + (np.arange(self.clip_len) -
                                     (self.clip_len - 1)) * self.frame_interval
        if not self.test_mode:
            offsets = np.minimum(np.asarray(skip_offsets), 0)
            offsets[-1] = 0
            frame_inds = frame_inds + offsets
        return np.clip(frame_inds, shot_info[0], shot_info[1] - 1)
