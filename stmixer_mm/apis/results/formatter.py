"""One keyframe's detections in pixels (:class:`KeyframeResult`) and the
records written of them (:class:`ResultFormatter`)."""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from stmixer_mm.utils.checks import check_range
from stmixer_mm.utils.coco_rle import encode_mask
from stmixer_mm.visualization.person_fields import PERSON_FIELDS

__all__ = [
    'KeyframeResult', 'ResultFormatter', 'CSV_COLUMNS', 'FORMAT_VERSION',
    'TUBES_FORMAT_VERSION', 'pixels'
]

#: ``format_version`` of every result file: the offline demo's
#: ``<name>_det.json`` and ``_det.jsonl``, the Inferencer's (and the browser
#: demo's) ``preds/<name>.json`` (docs/en/result_format.md)
FORMAT_VERSION = 'stmixer_mm-result/1'
#: ``format_version`` of the offline demo's ``<name>_tubes.json``
TUBES_FORMAT_VERSION = 'stmixer_mm-tubes/1'

#: the columns of a detections CSV (one row per person and action)
CSV_COLUMNS = ('frame', 'time', 'x1', 'y1', 'x2', 'y2', 'person_score',
               'action', 'score')


def pixels(boxes, frame_hw: Tuple[int, int], shape) -> np.ndarray:
    """Normalised xyxy ``boxes`` as pixels of ``frame_hw``.

    Args:
        boxes (Tensor): ``(..., 4)`` normalised xyxy.
        frame_hw (tuple[int, int]): ``(h, w)`` of the frame.
        shape (tuple): The shape of the result (its last dimension 4).

    Returns:
        np.ndarray: float32 pixel boxes of ``shape``.
    """
    h, w = frame_hw
    return boxes.cpu().numpy().reshape(shape) * np.array([w, h, w, h],
                                                         np.float32)


class KeyframeResult:
    """The detections of one keyframe in pixels of the input frame.

    Args:
        frame (int): 0-based keyframe.
        time (float): its timestamp (seconds).
        bboxes (np.ndarray): ``[n, 4]`` xyxy pixels.
        scores (np.ndarray): ``[n, C]`` action scores, column = label id.
        person_scores (np.ndarray): ``[n]``.
        data_sample (ActionDataSample, optional): the model's output; its
            ``pred_instances`` (normalised boxes) give the masks,
            tubelets, track ids and a project's fields. Defaults to None.
        frame_hw (tuple[int, int], optional): ``(h, w)`` of the input
            frame, the size masks and tubelets are given at.
            Defaults to None.

    Attributes:
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

    def pred_field(self, key: str, sized: bool = False):
        """``pred_instances`` if it holds ``key`` (and ``sized``: the frame
        size is known), else None.

        Args:
            key (str): A field of ``pred_instances``.
            sized (bool): Also require :attr:`frame_hw`. Defaults to False.

        Returns:
            InstanceData | None: The model's ``pred_instances``.
        """
        if sized and self.frame_hw is None:
            return None
        pred = getattr(self.data_sample, 'pred_instances', None)
        return pred if pred is not None and key in pred else None

    @property
    def tubelet_bboxes(self) -> Optional[np.ndarray]:
        """``[n, T', 4]`` pixel boxes of a tubelet model (STMixer-T) on
        :attr:`tubelet_frames`, or None for a keyframe detector."""
        pred = self.pred_field('tubelet_bboxes', sized=True)
        return None if pred is None else pixels(
            pred.tubelet_bboxes, self.frame_hw, (len(self), -1, 4))

    @property
    def masks(self) -> Optional[np.ndarray]:
        """``[n, h, w]`` bool masks at ``frame_hw`` (nearest), or None."""
        pred = self.pred_field('masks')
        if pred is None:
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
        """:attr:`masks` as COCO RLE (encoded once), or None."""
        if self._mask_rles is None:
            masks = self.masks
            if masks is None:
                return None
            self._mask_rles = [encode_mask(m) for m in masks]
        return self._mask_rles

    def __len__(self) -> int:
        return len(self.bboxes)

    def select(self, keep: np.ndarray) -> 'KeyframeResult':
        """The result of the persons ``keep`` (``pred_instances`` too)."""
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
        pred = self.pred_field('track_ids')
        return None if pred is None else pred.track_ids.cpu().numpy().reshape(
            -1)

    @classmethod
    def from_sample(
            cls,
            sample,
            frame: int,
            time: float,
            frame_hw: Tuple[int, int],
            tubelet_offsets: Optional[np.ndarray] = None) -> 'KeyframeResult':
        """The result of the model's output for one keyframe.

        Args:
            sample (ActionDataSample): reads ``pred_instances.bboxes``
                ``[n, 4]`` (normalised xyxy), ``pred_instances.scores``
                ``[n, C]`` and ``pred_instances.person_scores`` ``[n]``.
            frame (int): 0-based keyframe.
            time (float): its timestamp (seconds).
            frame_hw (tuple[int, int]): ``(h, w)`` of the input frame; the
                boxes are scaled to it.
            tubelet_offsets (np.ndarray, optional): ``[T']`` output frames
                of a tubelet model relative to ``frame``
                (:func:`~stmixer_mm.apis.tubelet_offsets`); the frames are
                clamped at 0 as the clip is. Defaults to None.

        Returns:
            KeyframeResult: boxes in pixels; ``tubelet_frames`` set with
            ``tubelet_offsets``.
        """
        pred = sample.pred_instances
        result = cls(frame, time, pixels(pred.bboxes, frame_hw, (-1, 4)),
                     pred.scores.cpu().numpy(),
                     pred.person_scores.cpu().numpy().reshape(-1), sample,
                     frame_hw)
        if tubelet_offsets is not None:
            result.tubelet_frames = np.maximum(int(frame) + tubelet_offsets, 0)
        return result


class ResultFormatter:
    """Which persons of a keyframe are written (:meth:`keep`; maybe with no
    action listed), and their records.

    Args:
        label_names (dict): ``{column: name}`` of the action columns.
        score_thr (float): actions listed scoring at least this.
        topk (int): actions listed per person, at most.
        person_thr (float): persons kept scoring at least this (removes what
            a model returns below it, e.g. fallback queries).
    """

    def __init__(self,
                 label_names: Dict[int, str],
                 score_thr: float = 0.3,
                 topk: int = 3,
                 person_thr: float = 0.0) -> None:
        self.label_names = label_names
        check_range(
            'ResultFormatter',
            '[0, 1]',
            score_thr=score_thr,
            person_thr=person_thr)
        self.score_thr = float(score_thr)
        self.topk = topk
        self.person_thr = float(person_thr)
        #: keyframes, persons written / with an action / removed
        self.counts = dict(
            keyframes=0, persons=0, persons_with_action=0, persons_removed=0)

    def keep(self, result: KeyframeResult) -> KeyframeResult:
        """The persons of ``result`` that are written, counted."""
        keep = np.flatnonzero(result.person_scores >= self.person_thr)
        c = self.counts
        c['keyframes'] += 1
        c['persons'] += len(keep)
        c['persons_removed'] += len(result) - len(keep)
        c['persons_with_action'] += sum(
            bool(self.actions(result.scores[i])) for i in keep)
        return result if len(keep) == len(result) else result.select(keep)

    def summary(self) -> str:
        """What :meth:`keep` wrote (with none: which setting removed them)."""
        c, thr = self.counts, f'person_thr={self.person_thr:g}'
        if c['persons']:
            return (f"{c['persons']} persons on {c['keyframes']} keyframes, "
                    f"{c['persons_with_action']} with an action scoring at "
                    f'least score_thr={self.score_thr:g}')
        why = (f"{thr} removed all {c['persons_removed']} persons the model "
               'returned' if c['persons_removed'] else
               f'the model returned no person scoring at least {thr}')
        return (f"0 persons on {c['keyframes']} keyframes: {why} "
                '(--person-thr / test_cfg.person_threshold)')

    def actions(self, scores: np.ndarray) -> Dict[str, float]:
        """``{name: score}`` of the best ``topk`` columns scoring at least
        ``score_thr`` (column 0 only if named, as ``format_action_labels``)."""
        out = {}
        for c in np.argsort(-scores):
            if len(out) == self.topk or scores[c] < self.score_thr:
                break
            if c == 0 and 0 not in self.label_names:
                continue
            out[self.label_names.get(int(c), str(int(c)))] = round(
                float(scores[c]), 4)
        return out

    def record(self,
               result: KeyframeResult,
               track_ids: Optional[Sequence[int]] = None) -> dict:
        """JSON-ready record of a keyframe (the JSON / JSON Lines entry).

        Args:
            result (KeyframeResult): the kept persons (:meth:`keep`).
            track_ids (Sequence[int], optional): one id per person, put
                first in its dict; the result's own ``track_ids`` are not
                written. Defaults to None.

        Returns:
            dict: ``frame``, ``time`` (s, rounded to 1 ms) and ``persons``:
            per person ``[track_id,] bbox`` (xyxy pixels, rounded to
            0.1), ``person_score`` (to 1e-4), ``actions`` ``{name:
            score}`` (:meth:`actions`) and, where the model gives them,
            ``mask`` (COCO RLE at the frame size), ``tubelet``
            (``frames``, ``boxes`` lists) and the fields of
            ``PERSON_FIELDS`` (see :meth:`persons`).
        """
        persons = []
        for i, p in enumerate(self.persons(result)):
            p.pop('track_id', None)
            p['bbox'] = [round(float(v), 1) for v in p['bbox']]
            p['person_score'] = round(p['person_score'], 4)
            if 'tubelet' in p:
                t = p['tubelet']
                p['tubelet'] = dict(
                    frames=t['frames'].tolist(),
                    boxes=np.round(t['boxes'].astype(float), 1).tolist())
            for name, field in PERSON_FIELDS.items():
                if name in p:
                    p[name] = field.to_json(p[name])
            persons.append(
                p if track_ids is
                None else dict(track_id=int(track_ids[i]), **p))
        return dict(
            frame=result.frame, time=round(result.time, 3), persons=persons)

    def persons(self, result: KeyframeResult) -> List[dict]:
        """``[dict(bbox, person_score, actions[, track_id][, mask (RLE)][,
        tubelet][, <field of PERSON_FIELDS>])]`` as ``draw_tracks`` takes
        them.

        Args:
            result (KeyframeResult): The keyframe's detections.

        Returns:
            list[dict]: One per person.
        """
        ids, rles = result.track_ids, result.mask_rles
        tubelets = result.tubelet_bboxes
        extra = {
            name: field.values(result, self)
            for name, field in PERSON_FIELDS.items()
        }
        out = []
        for i in range(len(result)):
            p = dict(
                bbox=result.bboxes[i],
                person_score=float(result.person_scores[i]),
                actions=self.actions(result.scores[i]))
            if ids is not None:
                p['track_id'] = int(ids[i])
            if rles is not None:
                p['mask'] = rles[i]
            if tubelets is not None:
                p['tubelet'] = dict(
                    frames=result.tubelet_frames, boxes=tubelets[i])
            p.update((name, values[i]) for name, values in extra.items()
                     if values is not None)
            out.append(p)
        return out

    def header(self,
               source,
               stride: Optional[int] = None,
               tracker: Optional[dict] = None,
               **given) -> dict:
        """The fields of a result file besides its ``keyframes``
        (docs/en/result_format.md).

        Args:
            source (FrameSource): The source read; gives ``name``, ``fps``,
                ``frame_size`` and ``num_read`` (None where it lacks one).
            stride (int, optional): Frames between two keyframes.
                Defaults to None.
            tracker (dict, optional): The tracker settings that gave the
                track ids. Defaults to None.
            **given: Values that win over the source's (``fps``,
                ``frame_size``, ``num_frames``, ``input``).

        Returns:
            dict: ``format_version`` (:data:`FORMAT_VERSION`), ``input``
            (the source's name), ``fps``, ``frame_size`` ``[w, h]``,
            ``num_frames``, ``stride``, ``person_threshold``,
            ``score_threshold``, ``topk`` and ``tracker``; None where not
            known.
        """
        header = dict(
            format_version=FORMAT_VERSION,
            input=getattr(source, 'name', None),
            fps=getattr(source, 'fps', None),
            frame_size=getattr(source, 'frame_size', None),
            num_frames=getattr(source, 'num_read', None),
            stride=stride,
            person_threshold=self.person_thr,
            score_threshold=self.score_thr,
            topk=self.topk,
            tracker=tracker)
        unknown = set(given) - set(header)
        if unknown:
            raise TypeError(f'ResultFormatter.header: unknown fields '
                            f'{sorted(unknown)}')
        header.update(given)
        if header['frame_size'] is not None:
            header['frame_size'] = [int(v) for v in header['frame_size']]
        return header

    def prediction(self,
                   results: Sequence[KeyframeResult],
                   source,
                   stride: Optional[int] = None,
                   tracker: Optional[dict] = None) -> dict:
        """One video's result document, as the Inferencer gives and saves
        it (docs/en/result_format.md).

        Args:
            results (Sequence[KeyframeResult]): the keyframes' kept persons.
            source (CountingSource): the source read (:meth:`header`).
            stride (int, optional): Frames between two keyframes.
            tracker (dict, optional): The tracker settings.

        Returns:
            dict: :meth:`header` and ``keyframes`` (a :meth:`record` per
            result, with its track ids where the model gives them).
        """
        return dict(
            self.header(source, stride, tracker),
            keyframes=[self.record(r, r.track_ids) for r in results])

    @staticmethod
    def csv_rows(keyframes: Sequence[dict]) -> Iterator[list]:
        """:data:`CSV_COLUMNS` rows, one per person and listed action.

        Args:
            keyframes (Sequence[dict]): :meth:`record` s (a result's
                ``keyframes``).

        Yields:
            list: ``frame, time, x1, y1, x2, y2, person_score, action,
            score``.
        """
        for k in keyframes:
            for p in k['persons']:
                for name, score in p['actions'].items():
                    yield [
                        k['frame'], k['time'], *p['bbox'], p['person_score'],
                        name, score
                    ]
