"""mmaction2's ``AVAMetric`` with the same numbers in a fraction of its
memory (:mod:`stmixer_mm.evaluation.functional.ava_frame_map`)."""
import math
from typing import Any, List, Optional, Sequence, Tuple

from mmaction.evaluation import AVAMetric
from mmengine.logging import print_log

from stmixer_mm.evaluation.functional.arrays import check_predictions, to_numpy
from stmixer_mm.evaluation.functional.ava_frame_map import (ava_frame_map,
                                                            compact_detections)
from stmixer_mm.registry import METRICS
from stmixer_mm.utils.checks import check_ints


@METRICS.register_module()
class CompactAVAMetric(AVAMetric):
    """AVA frame-mAP at IoU 0.5, equal to mmaction2's ``AVAMetric`` (its
    arguments, its keys: ``mAP/overall``, ``mAP/person_movement``,
    ``mAP/object_manipulation``, ``mAP/person_interaction``; a subclass,
    so that what checks an ``AVAMetric`` checks it too).

    ``AVAMetric`` keeps 80 arrays per keyframe and evaluates through a csv
    read back into Python lists and a pool of 32 processes: about 8 GB at
    AVA v2.2's validation size (killed on a 24 GiB machine beside another
    job). This metric keeps a keyframe's kept (box, class) pairs as one
    float32 array and evaluates in its own process.

    Args:
        ann_file (str): The GT csv.
        exclude_file (str, optional): Excluded timestamps.
        label_file (str): The label map (pbtxt).
        options (tuple[str]): ``('mAP', )``, the only one. Defaults to
            ``('mAP', )``.
        action_thr (float): A (box, class) pair is kept above this score
            (negative: the best class of each box). Defaults to 0.002.
        num_classes (int): Score columns, background included. Defaults
            to 81.
        custom_classes (list[int], optional): The action ids of the score
            columns 1, 2, ... (distinct ids of the label map, ``num_classes``
            their count plus one). Defaults to None.
        empty_keyframe_file (str, optional): The ``video_id,timestamp``
            keyframes with nobody in them (the dataset's
            ``empty_keyframe_file``): evaluated without ground truth, as
            ``ava_eval`` ignores them. Any other keyframe that is not in
            ``ann_file`` or ``exclude_file`` is refused. Defaults to None.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'mAP'``.
    """

    def __init__(self,
                 ann_file: str,
                 exclude_file: Optional[str],
                 label_file: str,
                 options: Tuple[str] = ('mAP', ),
                 action_thr: float = 0.002,
                 num_classes: int = 81,
                 custom_classes: Optional[List[int]] = None,
                 empty_keyframe_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        check_ints('CompactAVAMetric', 2, num_classes=num_classes)
        if tuple(options) != ('mAP', ):
            raise ValueError(f'CompactAVAMetric: options must be (\'mAP\', )'
                             f' (as AVAMetric), got {options!r}')
        if isinstance(action_thr, bool) or \
                not isinstance(action_thr, (int, float)) or \
                not math.isfinite(action_thr) or action_thr >= 1:
            raise ValueError(
                'CompactAVAMetric: action_thr must be a finite number below 1 '
                '(a pair is kept above it; negative: the best class of each '
                f'box), got {action_thr!r}')
        if custom_classes is not None:
            # distinct action ids >= 1, one per score column after the
            # background
            if not isinstance(custom_classes, (list, tuple)) or \
                    not custom_classes:
                raise ValueError(
                    'CompactAVAMetric: custom_classes must be None or a '
                    'non-empty list of action ids (the classes evaluated), '
                    f'got {custom_classes!r}')
            for i, c in enumerate(custom_classes):
                if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                    raise ValueError(
                        f'CompactAVAMetric: custom_classes[{i}] = {c!r} is '
                        'not an action id: expected an int >= 1 (0 is the '
                        'background column)')
                if c in custom_classes[:i]:
                    raise ValueError(
                        f'CompactAVAMetric: custom_classes lists class {c} '
                        f'twice (at {custom_classes.index(c)} and {i}): '
                        'expected distinct action ids')
            if num_classes != len(custom_classes) + 1:
                raise ValueError(
                    'CompactAVAMetric: custom_classes has '
                    f'{len(custom_classes)} classes but num_classes='
                    f'{num_classes}: expected num_classes='
                    f'{len(custom_classes) + 1} (the background column, then '
                    'one per custom class, as AVADataset)')
            custom_classes = list(custom_classes)
        super().__init__(ann_file, exclude_file, label_file, tuple(options),
                         action_thr, num_classes, custom_classes,
                         collect_device, prefix)
        self.empty_keyframe_file = empty_keyframe_file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep each keyframe's pairs above ``action_thr`` (rounded as
        ``AVAMetric``'s csv).

        Args:
            data_batch (Any): Unused.
            data_samples (Sequence[dict]): ``video_id``, ``timestamp`` and
                ``pred_instances`` (``bboxes`` ``(n, 4)`` x1 y1 x2 y2
                normalised to [0, 1], ``scores`` ``(n, num_classes)``);
                other shapes, pixel boxes and non-finite values raise
                ValueError naming the keyframe.
        """
        for sample in data_samples:
            pred = sample['pred_instances']
            where = (f'CompactAVAMetric: video {sample["video_id"]!r} '
                     f'timestamp {sample["timestamp"]}')
            bboxes, scores = to_numpy(pred['bboxes']), to_numpy(pred['scores'])
            if bboxes.ndim != 2 or bboxes.shape[1] != 4 or scores.shape != (
                    len(bboxes), self.num_classes):
                raise ValueError(
                    f'{where}: expected pred_instances.bboxes [n, 4] and '
                    'pred_instances.scores [n, num_classes='
                    f'{self.num_classes}], got {list(bboxes.shape)} and '
                    f'{list(scores.shape)}')
            check_predictions(
                where,
                normalised=dict(bboxes=bboxes),
                finite=dict(scores=scores))
            labels, rows = compact_detections(pred['bboxes'], pred['scores'],
                                              self.num_classes,
                                              self.action_thr,
                                              self.custom_classes)
            self.results.append(
                (sample['video_id'], sample['timestamp'], labels, rows))

    def compute_metrics(self, results: list) -> dict:
        """The four mAPs of ``ava_eval``.

        Args:
            results (list): :meth:`process`'s ``(video_id, timestamp,
                labels, rows)``.

        Returns:
            dict: ``overall``, ``person_movement``, ``object_manipulation``
            and ``person_interaction`` (fractions).

        Raises:
            ValueError: Nothing processed, a keyframe processed twice or a
                keyframe of no ground truth (see :func:`ava_frame_map`).
        """
        out, per_class = ava_frame_map(
            results,
            self.ann_file,
            self.label_file,
            self.exclude_file,
            self.custom_classes,
            empty_keyframe_file=self.empty_keyframe_file)
        for k, name, ap in per_class:
            print_log(
                f'Index: {k}, Action: {name}: AP: {ap:.4f};', logger='current')
        print_log(f'Overall mAP: {out["overall"]:.4f}', logger='current')
        return out
