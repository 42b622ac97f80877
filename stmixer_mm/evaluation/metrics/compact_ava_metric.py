"""mmaction2's ``AVAMetric`` with the same numbers in a fraction of its
memory (:mod:`stmixer_mm.evaluation.functional.ava_frame_map`)."""
from typing import Any, List, Optional, Sequence, Tuple

from mmaction.evaluation import AVAMetric
from mmengine.logging import print_log

from stmixer_mm.evaluation.functional.ava_frame_map import (ava_frame_map,
                                                            compact_detections)
from stmixer_mm.registry import METRICS
from stmixer_mm.utils.setting_types import Int
from stmixer_mm.utils.settings import check_arguments


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
            columns 1, 2, ... Defaults to None.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'mAP'``.
    """

    SETTINGS = dict(num_classes=Int(min=2))

    def __init__(self,
                 ann_file: str,
                 exclude_file: Optional[str],
                 label_file: str,
                 options: Tuple[str] = ('mAP', ),
                 action_thr: float = 0.002,
                 num_classes: int = 81,
                 custom_classes: Optional[List[int]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        check_arguments(CompactAVAMetric, locals())
        if tuple(options) != ('mAP', ):
            raise ValueError(f'CompactAVAMetric: options must be (\'mAP\', )'
                             f' (as AVAMetric), got {options!r}')
        super().__init__(ann_file, exclude_file, label_file, tuple(options),
                         action_thr, num_classes, custom_classes,
                         collect_device, prefix)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep each keyframe's pairs above ``action_thr`` (rounded as
        ``AVAMetric``'s csv).

        Args:
            data_batch (Any): Unused.
            data_samples (Sequence[dict]): ``video_id``, ``timestamp`` and
                ``pred_instances`` (``bboxes`` ``(n, 4)`` normalised,
                ``scores`` ``(n, num_classes)``).
        """
        for sample in data_samples:
            pred = sample['pred_instances']
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
        """
        out, per_class = ava_frame_map(results, self.ann_file, self.label_file,
                                       self.exclude_file, self.custom_classes)
        for k, name, ap in per_class:
            print_log(
                f'Index: {k}, Action: {name}: AP: {ap:.4f};', logger='current')
        print_log(f'Overall mAP: {out["overall"]:.4f}', logger='current')
        return out
