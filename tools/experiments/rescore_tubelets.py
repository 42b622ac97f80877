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
from stmixer_mm.benchmarks.tube_boxes import smooth_tubelets
from stmixer_mm.benchmarks.tubes import load_predictions, score
from stmixer_mm.utils.settings import load_config


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
    for word in args.degrees.split(','):
        degree = None if word.strip() == 'none' else int(word)
        scores = rescore(cfg, predictions, degree)
        print(f'degree {word.strip()}: ' +
              ', '.join(f'{k} {float(v):.2f}' for k, v in scores.items()
                        if k.startswith(('frameAP@', 'videoAP@'))))


if __name__ == '__main__':
    main()
