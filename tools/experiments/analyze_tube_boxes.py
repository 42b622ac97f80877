"""Where the 0.75-IoU tubes are lost: how the boxes of a tube model sit on
each ground-truth tube, frame by frame (issue 48, docs/en/tubelets.md).

Reads the ACT ground truth and the raw predictions that ``tools/test.py
CONFIG CKPT --dump preds.pkl`` wrote for a tube model (STMixer-K: the
keyframe boxes of every tested frame; STMixer-T: each clip's tubelet boxes,
``--tubelets``), and for every ground-truth tube and frame takes the
prediction that overlaps the ground-truth box best (class agnostic: the
box, not the label, is measured):

* **per frame**: the median best IoU and the share of frames at >= 0.5 /
  0.75;
* **per tube**: the share of tubes whose mean best IoU reaches 0.75 (what
  a perfect linking of these boxes could give at video-mAP@0.75, before
  labels and temporal overlap);
* **bias against jitter**: per tube, the mean offset of the four box
  coordinates from the ground truth (bias, the same error on every frame)
  and the spread around it (jitter, frame to frame), as RMS in pixels and
  as a fraction of the box size ``sqrt(w h)``; and the IoU the boxes would
  have with the bias removed (each tube's mean offset subtracted) or with
  the jitter removed (the offsets replaced by their tube mean): which of
  the two, fixed, would lift more tubes over 0.75.

* **labels**: the share of those best boxes whose best class is the
  tube's, and for tubelets the median IoU by output frame (whether the
  boxes far from the clip's middle are the worse ones).

STMixer-T clips overlap when they are tested more often than their span:
each frame then takes the best box over the clips that cover it.

Example::

    python tools/test.py CONFIG work_dirs/.../epoch_6.pth \\
        --dump work_dirs/k_preds.pkl
    python tools/experiments/analyze_tube_boxes.py \\
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
