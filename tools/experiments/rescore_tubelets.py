r"""Re-score a tubelet model's dumped test predictions with each tubelet's
boxes smoothed in time (docs/en/tubelets.md): a least-squares polynomial of
each degree (``smooth_tubelets``), then ``TubeMetric``; ``none``: as they are.

    python tools/test.py CONFIG CKPT --dump work_dirs/t_preds.pkl
    python tools/experiments/rescore_tubelets.py CONFIG \
        work_dirs/t_preds.pkl --degrees none,3,2,1,0
"""
import argparse
import copy

import numpy as np
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apps.benchmarks.tubes import load_predictions, score


def smooth_tubelets(boxes: np.ndarray, frames: np.ndarray,
                    degree: int) -> np.ndarray:
    """Each tubelet's boxes fitted per coordinate by a polynomial in time
    (``[n, T', 4]`` float32).

    Args:
        boxes (np.ndarray): ``[n, T', 4]`` boxes on ``frames``.
        frames (np.ndarray): ``[T']`` video frames of the output frames.
        degree (int): Least-squares degree; ``>= T' - 1``: boxes unchanged.
    """
    boxes = np.asarray(boxes, np.float64)
    t = np.asarray(frames, np.float64).reshape(-1)
    if boxes.ndim != 3 or boxes.shape[1] != len(t) or degree < 0:
        raise ValueError(f'smooth_tubelets: boxes {boxes.shape} on '
                         f'{len(t)} frames, degree {degree}: expected '
                         "[n, T', 4] boxes on T' frames and degree >= 0")
    span = np.ptp(t)
    if span == 0 or degree >= len(t) - 1:
        return boxes.astype(np.float32)
    vander = np.vander((t - t.mean()) / span, degree + 1)
    projection = vander @ np.linalg.pinv(vander)  # [T', T']
    return np.einsum('st,ntc->nsc', projection, boxes).astype(np.float32)


def rescore(cfg, predictions: list, degree) -> dict:
    """The config's tubelet metric on ``predictions`` smoothed with
    ``degree`` (None: unchanged)."""
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    metric_cfg = next((e for e in evaluators if e.get('tubes') == 'tubelets'),
                      None)
    if metric_cfg is None:
        raise ValueError("the config's test_evaluator has no "
                         "TubeMetric(tubes='tubelets')")
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    samples = []
    for sample in predictions:
        pred = dict(sample['pred_instances'])
        if degree is not None:
            pred['tubelet_bboxes'] = smooth_tubelets(
                np.asarray(pred['tubelet_bboxes']),
                np.asarray(sample['tubelet_frames']), degree)
        samples.append(dict(sample, pred_instances=pred))
    return score(copy.deepcopy(metric_cfg), samples)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the tubelet config that was tested')
    parser.add_argument('predictions', help='tools/test.py --dump output')
    parser.add_argument(
        '--degrees',
        default='none,3,2,1,0',
        help="comma-separated polynomial degrees ('none': unsmoothed)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    predictions = load_predictions(args.predictions)
    words = [w.strip() for w in args.degrees.split(',')]
    try:  # every degree scored before anything is printed
        results = [
            rescore(cfg, predictions, None if w == 'none' else int(w))
            for w in words
        ]
    except ValueError as e:  # a degree, the config or the dump refused
        raise SystemExit(f'rescore_tubelets.py: {args.predictions}: {e}')
    for word, scores in zip(words, results):
        print(f'degree {word}: ' +
              ', '.join(f'{k} {float(v):.2f}' for k, v in scores.items()
                        if k.startswith(('frameAP@', 'videoAP@'))))


if __name__ == '__main__':
    main()
