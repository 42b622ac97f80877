"""From a :class:`~.keyframe_result.KeyframeResult` to what is written and
drawn: which persons are kept, the thresholds and class names of one run,
applied one way by the Inferencer, the offline demo and the online
runner."""
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from stmixer_mm.utils.settings_specs import check_probability
from .keyframe_result import KeyframeResult

__all__ = ['ResultFormatter', 'CSV_COLUMNS']

#: the columns of a detections CSV (one row per person and action)
CSV_COLUMNS = ('frame', 'time', 'x1', 'y1', 'x2', 'y2', 'person_score',
               'action', 'score')


class ResultFormatter:
    """Which persons of a keyframe are written, and their records.

    One policy (:meth:`keep`): every person scoring at least ``person_thr``
    is written, with its actions scoring at least ``score_thr`` (at most
    ``topk``), maybe none (``actions={}``: no CSV row); ``score_thr`` never
    removes a person. :attr:`counts` and :meth:`summary` report a run.

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
        self.score_thr = check_probability(score_thr, 'score_thr')
        self.topk = topk
        self.person_thr = check_probability(person_thr, 'person_thr')
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
        """``{name: score}`` of the best columns scoring at least
        ``score_thr``, at most ``topk`` (column 0 only if named; an unnamed
        column by its number, as ``format_action_labels``)."""
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
        """JSON-ready ``dict(frame, time, persons=[dict(bbox (pixels),
        person_score, actions {name: score}[, track_id][, mask (COCO
        RLE)][, tubelet][, forecast])])``."""
        rles = result.mask_rles
        tubelets = result.tubelet_bboxes
        forecasts = self.forecasts(result)
        persons = []
        for i in range(len(result)):
            p = dict(
                bbox=[round(float(v), 1) for v in result.bboxes[i]],
                person_score=round(float(result.person_scores[i]), 4),
                actions=self.actions(result.scores[i]))
            if track_ids is not None:
                p = dict(track_id=int(track_ids[i]), **p)
            if rles is not None:
                p['mask'] = rles[i]
            if tubelets is not None:
                p['tubelet'] = dict(
                    frames=result.tubelet_frames.tolist(),
                    boxes=np.round(tubelets[i].astype(float), 1).tolist())
            if forecasts is not None:
                p['forecast'] = [
                    dict(f, bbox=[round(float(v), 1) for v in f['bbox']])
                    for f in forecasts[i]
                ]
            persons.append(p)
        return dict(
            frame=result.frame, time=round(result.time, 3), persons=persons)

    def persons(self, result: KeyframeResult) -> List[dict]:
        """``[dict(bbox, person_score, actions[, track_id][, mask][,
        tubelet][, forecast])]`` of a keyframe, as ``draw_tracks`` takes
        them (masks kept as RLE: compact)."""
        ids = result.track_ids
        rles = result.mask_rles
        tubelets = result.tubelet_bboxes
        forecasts = self.forecasts(result)
        return [
            dict(
                bbox=result.bboxes[i],
                person_score=float(result.person_scores[i]),
                actions=self.actions(result.scores[i]),
                **({} if ids is None else dict(track_id=int(ids[i]))),
                **({} if rles is None else dict(mask=rles[i])),
                **({} if tubelets is None else dict(
                    tubelet=dict(
                        frames=result.tubelet_frames, boxes=tubelets[i]))),
                **({} if forecasts is None else dict(forecast=forecasts[i])))
            for i in range(len(result))
        ]

    def forecasts(self, result: KeyframeResult) -> Optional[List[list]]:
        """A forecast model's ``[dict(horizon, frame, bbox, visible,
        actions)]`` of each person, or None."""
        forecast = result.forecast
        if forecast is None:
            return None
        return [[
            dict(
                horizon=h,
                frame=result.frame + h,
                bbox=forecast['bboxes'][i, j],
                visible=round(float(forecast['visible'][i, j]), 4),
                actions=self.actions(forecast['scores'][i, j]))
            for j, h in enumerate(forecast['horizons'])
        ] for i in range(len(result))]

    def prediction(self, results: Sequence[KeyframeResult], source) -> dict:
        """One video's prediction (the Inferencer's): ``dict(input, fps,
        frame_size [w, h], num_frames, person_threshold, keyframes=[
        records])``; the first four from ``source`` (a counting source)."""
        track = any(r.track_ids is not None for r in results)
        return dict(
            input=getattr(source, 'name', None),
            fps=getattr(source, 'fps', None),
            frame_size=getattr(source, 'frame_size', None),
            num_frames=getattr(source, 'num_read', None),
            person_threshold=self.person_thr,
            keyframes=[
                self.record(r, r.track_ids if track else None) for r in results
            ])

    @staticmethod
    def csv_rows(detections: Sequence[dict]) -> Iterator[list]:
        """The :data:`CSV_COLUMNS` rows of flat detections: one per person
        and listed action."""
        for d in detections:
            for name, score in d['actions'].items():
                yield [
                    d['frame'], d['time'], *d['bbox'], d['person_score'], name,
                    score
                ]
