r"""Where the 0.75-IoU tubes are lost: how the boxes of a tube model sit on
each ground-truth tube, frame by frame (docs/en/tubelets.md).

Per GT tube and frame, the best-overlapping ``tools/test.py --dump`` box (class
agnostic; ``--tubelets``: tubelet boxes): IoU, bias against jitter, label
accuracy. Example::

    python tools/experiments/analyze_tube_boxes.py \
        data/tubes_seed0/annotations/tubes_GT.pkl work_dirs/k_preds.pkl
"""
import argparse

from stmixer_mm.benchmarks.tube_boxes import (analyse, analyse_labels,
                                              frame_predictions)
from stmixer_mm.utils.checkpoint_loading import load_pickle


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt', help='the ACT ground truth (tubes_GT.pkl)')
    parser.add_argument('dump', help="tools/test.py --dump's pickle")
    parser.add_argument(
        '--tubelets',
        action='store_true',
        help='a tubelet model: read each clip\'s tubelet boxes')
    args = parser.parse_args(argv)
    gt = load_pickle(args.gt, 'numpy', 'ACT ground-truth file')
    samples = load_pickle(args.dump, 'tensors', 'dumped predictions')
    predictions = frame_predictions(samples, gt, args.tubelets)
    stats = analyse(gt, {k: v[0] for k, v in predictions.items()})
    stats.update(analyse_labels(gt, predictions))
    for key, value in stats.items():
        print(f'{key}: {value:.3f}' if isinstance(value, float
                                                  ) else f'{key}: {value}')


if __name__ == '__main__':
    main()
