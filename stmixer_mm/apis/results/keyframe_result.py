"""The detections of one keyframe in pixels of the input frame: the first
step from the model's ``InstanceData`` to files (:mod:`.formatter` makes
records of it, :mod:`.result_writer` writes them)."""
from typing import List, Optional, Tuple

import cv2
import numpy as np

from stmixer_mm.utils.mask_rle import encode_mask

__all__ = ['KeyframeResult']


class KeyframeResult:
    """The detections of one keyframe in pixels of the input frame.

    Attributes:
        frame (int): 0-based keyframe.
        time (float): its timestamp (seconds).
        bboxes (np.ndarray): ``[n, 4]`` xyxy pixels.
        scores (np.ndarray): ``[n, C]`` action scores, column = label id.
        person_scores (np.ndarray): ``[n]``.
        data_sample: the model's ``ActionDataSample``.
        frame_hw (tuple, optional): ``(h, w)`` of the input frame.
        tubelet_frames (np.ndarray, optional): ``[T']`` 0-based frames of
            a tubelet model's boxes (:attr:`tubelet_bboxes`).
    """

    __slots__ = ('frame', 'time', 'bboxes', 'scores', 'person_scores',
                 'data_sample', 'frame_hw', '_mask_rles', 'tubelet_frames')

    def __init__(self,
                 frame,
                 time,
                 bboxes,
                 scores,
                 person_scores,
                 data_sample=None,
                 frame_hw=None):
        self.frame = int(frame)
        self.time = float(time)
        self.bboxes = bboxes
        self.scores = scores
        self.person_scores = person_scores
        self.data_sample = data_sample
        self.frame_hw = None if frame_hw is None else tuple(frame_hw)
        self._mask_rles = None  # computed once, by mask_rles
        self.tubelet_frames = None

    @property
    def tubelet_bboxes(self) -> Optional[np.ndarray]:
        """``[n, T', 4]`` pixel boxes of a tubelet model (STMixer-T) on
        :attr:`tubelet_frames`, or None for a keyframe detector."""
        pred = getattr(self.data_sample, 'pred_instances', None)
        if pred is None or 'tubelet_bboxes' not in pred or \
                self.frame_hw is None:
            return None
        h, w = self.frame_hw
        return pred.tubelet_bboxes.cpu().numpy().reshape(
            len(self), -1, 4) * np.array([w, h, w, h], np.float32)

    @property
    def forecast(self) -> Optional[dict]:
        """A forecast model's forecasts of each person, or None:
        ``horizons`` (frames after the keyframe), ``bboxes`` ``[n, H, 4]``
        pixels, ``scores`` ``[n, H, C]`` (times the person score, as
        ``ForecastMetric`` ranks them) and ``visible`` ``[n, H]``."""
        pred = getattr(self.data_sample, 'pred_instances', None)
        if pred is None or 'future_bboxes' not in pred or \
                self.frame_hw is None:
            return None
        horizons = tuple(
            int(x) for x in self.data_sample.metainfo['forecast_horizons'])
        h, w = self.frame_hw
        n, k = len(self), len(horizons)
        boxes = pred.future_bboxes.cpu().numpy().reshape(n, k, 4) * np.array(
            [w, h, w, h], np.float32)
        future = pred.future_scores.cpu().numpy().reshape(n, k, -1)
        scores = np.zeros((n, k, self.scores.shape[1]), np.float32)
        # the head has no background column: its columns are the last ones
        scores[:, :, self.scores.shape[1] - future.shape[2]:] = \
            future * self.person_scores.reshape(n, 1, 1)
        return dict(
            horizons=horizons,
            bboxes=boxes,
            scores=scores,
            visible=pred.future_visible.cpu().numpy().reshape(n, k))

    @property
    def masks(self) -> Optional[np.ndarray]:
        """``[n, h, w]`` bool person masks at ``frame_hw`` (resized
        nearest), or None for a model without a mask head."""
        pred = getattr(self.data_sample, 'pred_instances', None)
        if pred is None or 'masks' not in pred:
            return None
        masks = pred.masks.cpu().numpy().astype(bool)
        if self.frame_hw is None or tuple(masks.shape[1:]) == self.frame_hw:
            return masks
        h, w = self.frame_hw
        if not len(masks):
            return np.zeros((0, h, w), bool)
        return np.stack([
            cv2.resize(
                m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
            for m in masks
        ]).astype(bool)

    @property
    def mask_rles(self) -> Optional[List[dict]]:
        """:attr:`masks` as COCO RLE, one per person (encoded once), or
        None."""
        if self._mask_rles is None:
            masks = self.masks
            if masks is None:
                return None
            self._mask_rles = [encode_mask(m) for m in masks]
        return self._mask_rles

    def __len__(self) -> int:
        return len(self.bboxes)

    def select(self, keep: np.ndarray) -> 'KeyframeResult':
        """The result of the persons ``keep`` (indices), its data sample's
        ``pred_instances`` too."""
        keep, sample = np.asarray(keep, np.int64), self.data_sample
        pred = getattr(sample, 'pred_instances', None)
        if pred is not None:
            sample = sample.new()  # shallow: only pred_instances replaced
            sample.pred_instances = pred[keep]
        out = KeyframeResult(self.frame, self.time, self.bboxes[keep],
                             self.scores[keep], self.person_scores[keep],
                             sample, self.frame_hw)
        out.tubelet_frames = self.tubelet_frames
        return out

    @property
    def track_ids(self) -> Optional[np.ndarray]:
        """``[n]`` ids of a model that tracks, None for a keyframe detector."""
        pred = getattr(self.data_sample, 'pred_instances', None)
        if pred is None or 'track_ids' not in pred:
            return None
        return pred.track_ids.cpu().numpy().reshape(-1)

    @classmethod
    def from_sample(
            cls,
            sample,
            frame: int,
            time: float,
            frame_hw: Tuple[int, int],
            tubelet_offsets: Optional[np.ndarray] = None) -> 'KeyframeResult':
        """The result of the model's ``ActionDataSample`` (boxes scaled to
        ``frame_hw``); ``tubelet_offsets``: a tubelet model's output frames
        relative to ``frame`` (clamped at 0 as the clip is)."""
        pred = sample.pred_instances
        h, w = frame_hw
        boxes = pred.bboxes.cpu().numpy().reshape(-1, 4) * np.array(
            [w, h, w, h], np.float32)
        result = cls(frame, time, boxes,
                     pred.scores.cpu().numpy(),
                     pred.person_scores.cpu().numpy().reshape(-1), sample,
                     (h, w))
        if tubelet_offsets is not None:
            result.tubelet_frames = np.maximum(int(frame) + tubelet_offsets, 0)
        return result
