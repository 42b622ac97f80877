"""The reference forecasts on perfect detections: what copying the present
(zero motion), extrapolating it (constant velocity) and seeing the future
(the oracle) score on a synthetic tube set, before any model.

The test split's ground truth is turned into detections at every frame
(each person's box, its current class scored 1, the others 0), and the
three reference forecasts of :mod:`stmixer_mm.evaluation.functional.
forecast` are made from them and scored at each horizon (frames): future
frame-mAP@0.5 (MOC's frameAP on the target frames), ADE in pixels and as
a fraction of the box size, action anticipation mAP. Only the ground truth
is built (no frames are drawn), so it runs in seconds.

Example (the table in docs/en/forecasting.md)::

    python tools/experiments/forecast_references.py --motion forecast
    python tools/experiments/forecast_references.py --motion lanes
"""
import argparse
from typing import Dict

import numpy as np

from stmixer_mm.data_gen.settings import SyntheticAVASettings
from stmixer_mm.data_gen.synthetic_tubes import (TUBE_PRESETS,
                                                 build_tube_annotations)
from stmixer_mm.evaluation.functional import forecast as fc


def perfect_detections(gt: dict, videos) -> Dict[str, dict]:
    """Every ground-truth person at every frame, its current class 1."""
    num_classes = len(gt['labels'])
    out = {}
    for v in videos:
        tracks = fc.person_tracks(gt, v)
        frames = {}
        for t in range(1, int(gt['nframes'][v]) + 1):
            here = [track[t] for track in tracks if t in track]
            actions = np.zeros((len(here), num_classes))
            for i, (_, label) in enumerate(here):
                actions[i, label] = 1
            frames[t] = fc.Detections(
                np.array([box for box, _ in here]).reshape(-1, 4), actions,
                np.full(len(here), 0.9))
        out[v] = frames
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--motion', choices=sorted(TUBE_PRESETS), default='forecast')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--horizons', type=int, nargs='+', default=[8, 16])
    parser.add_argument(
        '--history',
        type=int,
        default=16,
        help='constant velocity: boxes the velocity is '
        'fitted on')
    args = parser.parse_args(argv)
    settings = SyntheticAVASettings(
        **dict(TUBE_PRESETS[args.motion], seed=args.seed))
    gt = build_tube_annotations(settings)
    videos = gt['test_videos'][0]
    dets = perfect_detections(gt, videos)
    print(f'motion={args.motion} seed={args.seed}: {len(videos)} test '
          f'videos at {settings.fps} fps')
    print('| horizon | forecast | future frame-mAP@0.5 | ADE px | ADE / size '
          '| anticipation mAP | persons |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for h in args.horizons:
        made = dict(
            zero_motion=fc.zero_motion(dets, h),
            constant_velocity=fc.constant_velocity(
                dets, h, history=args.history),
            oracle=fc.oracle(dets, h))
        for name, forecasts in made.items():
            ap = fc.future_frame_ap(gt, forecasts, h, videos)
            row = [
                f'{h} ({h / settings.fps:.2f} s)', name,
                f'{100 * np.mean(list(ap.values())):.1f}'
            ]
            if name == 'oracle':  # its boxes at t are those at t + h
                row += ['-', '-', '-', '-']
            else:
                d = fc.displacement_errors(gt, {h: forecasts}, videos)
                ant = fc.anticipation_ap(gt, forecasts, h, videos)
                row += [
                    f'{d["ade_px"]:.2f}', f'{d["ade_rel"]:.3f}',
                    f'{100 * np.mean(list(ant.values())):.1f}',
                    str(d['num_persons'])
                ]
            print('| ' + ' | '.join(row) + ' |')


if __name__ == '__main__':
    main()
