"""The doctor's checks of a tube (ACT) data set."""
from collections import Counter
from typing import List

import numpy as np

from stmixer_mm.apps.dataset_doctor.common import (check_person_boxes,
                                                   examples, linear_runs,
                                                   step_text)
from stmixer_mm.apps.dataset_doctor.report import (LINEAR_TOLERANCE,
                                                   LINEAR_TOLERANCE_PX,
                                                   MIN_INTERPOLATED_FRAMES,
                                                   WARNING, DatasetReport)


def check_tube_dataset(report: DatasetReport, cfg, split: str, dataset) -> int:
    """Check a built :class:`TubeDataset`; return its score columns.

    Adds the split's label histogram and keyframe count to ``report`` and
    warnings for keyframes without boxes (training), boxes given
    normalised, zero-area boxes, tool-interpolated tubes and persons
    smaller than the finest feature stride after the test resize.

    Args:
        report (DatasetReport): Receives the findings, class names and
            histograms.
        cfg (Config): The config (model strides, test pipeline).
        split (str): The split's name, e.g. ``'train'``.
        dataset (TubeDataset): The built data set of ``split``.

    Returns:
        int: The score columns: the number of labels + 1 (background).
    """
    ann = dataset.ann_file
    where = dict(split=split, file=ann)
    gt = dataset.gt
    labels = list(gt['labels'])
    report.names_from = f'the labels of {ann}'
    for i, name in enumerate(labels):
        report.class_names.setdefault(i + 1, name)
    hist = Counter()
    boxes = []
    empty = 0
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    for info in infos:
        if not len(info['gt_bboxes']):
            empty += 1
            continue
        for box, row in zip(info['gt_bboxes'], info['gt_labels']):
            for col in np.flatnonzero(row[1:]) + 1:
                hist[int(col)] += 1
            boxes.append((box, info['resolution'],
                          dict(text=f'video {info["video_id"]} frame '
                               f'{info["timestamp"]}')))
    report.histograms[split] = dict(hist)
    report.keyframes[split] = len(infos)
    if empty and not dataset.test_mode:
        report.add(
            WARNING, 'empty_keyframes',
            f'{empty} of {len(infos)} training keyframes have '
            'no box', **where)
    # boxes given normalised (the ACT format is pixels)
    normalised, zero, interpolated = [], [], []
    for video in dataset._split_videos(gt):
        h, w = (float(x) for x in gt['resolution'][video])
        for label, tubes in gt['gttubes'][video].items():
            for t, tube in enumerate(tubes):
                tube = np.asarray(tube, dtype=np.float64)
                b = tube[:, 1:5]
                interpolated += _interpolated_runs(
                    f'video {video!r} label {label} tube {t}', tube, h, w)
                if max(h, w) > 2 and b.max() <= 1.0:
                    normalised.append(f'video {video!r} label {label} '
                                      f'tube {t}')
                z = (b[:, 2] == b[:, 0]) | (b[:, 3] == b[:, 1])
                if z.any():
                    zero.append(f'video {video!r} label {label} tube {t} '
                                f'frame {tube[z][0, 0]:g}')
    if normalised:
        report.add(
            WARNING, 'box_units',
            f'{len(normalised)} tubes have every coordinate <= 1 although '
            'their videos are larger: ACT boxes are pixels of the original '
            'video; were normalised boxes given? ' + examples(normalised),
            **where)
    if zero:
        report.add(
            WARNING, 'zero_area',
            f'{len(zero)} tubes have zero-area boxes (x1 == x2 or y1 == '
            'y2): they cannot be matched at IoU 0.5: ' + examples(zero),
            **where)
    check_person_boxes(
        report,
        split,
        cfg,
        interpolated,
        'frame',
        MIN_INTERPOLATED_FRAMES,
        boxes,
        file=ann)
    return len(labels) + 1


def _interpolated_runs(name: str, tube: np.ndarray, h: float,
                       w: float) -> List[str]:
    """The spans of a tube (pixel ``[frame, x1, y1, x2, y2]`` rows) moving
    linearly over :data:`MIN_INTERPOLATED_FRAMES` frames."""
    frames = tube[:, 0].astype(np.int64)
    tol = max(LINEAR_TOLERANCE, LINEAR_TOLERANCE_PX / min(h, w))
    runs = linear_runs(frames, tube[:, 1:5] / [w, h, w, h],
                       MIN_INTERPOLATED_FRAMES, tol)
    return [
        f'{name} frames {frames[i0]}..{frames[i1]}, moving by '
        f'{step_text(step)} of the frame per frame' for i0, i1, step in runs
    ]
