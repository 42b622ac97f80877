"""The reference forecasts on perfect detections: what copying the present
(zero motion), extrapolating it (constant velocity) and seeing the future
(the oracle) score on a synthetic tube set (docs/en/forecasting.md)::

    python projects/forecasting/tools/forecast_references.py --motion lanes
"""
import argparse
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from stmixer_mm.apps.benchmarks.common import markdown_table
from stmixer_mm.apps.data_gen.settings import SyntheticAVASettings
from stmixer_mm.apps.data_gen.synthetic_tubes import (TUBE_PRESETS,
                                                      build_tube_annotations)

# the project's package from a checkout (projects/ is not installed)
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from projects.forecasting.forecasting import functional as fc  # noqa: E402


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


def reference_rows(motion: str = 'forecast',
                   seed: int = 0,
                   horizons: Sequence[int] = (8, 16),
                   history: int = 16) -> List[List[str]]:
    """The table's rows (horizon, forecast, future frame-mAP@0.5, ADE px,
    ADE / size, anticipation mAP, persons) on the test split of the preset
    of ``motion``; the first row is a line naming the set."""
    settings = SyntheticAVASettings(**dict(TUBE_PRESETS[motion], seed=seed))
    gt = build_tube_annotations(settings)
    videos = gt['test_videos'][0]
    dets = perfect_detections(gt, videos)
    rows = [[
        f'motion={motion} seed={seed}: {len(videos)} test videos at '
        f'{settings.fps} fps'
    ]]
    for h in horizons:
        made = dict(
            zero_motion=fc.zero_motion(dets, h),
            constant_velocity=fc.constant_velocity(dets, h, history=history),
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
            rows.append(row)
    return rows


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
    title, *rows = reference_rows(args.motion, args.seed, args.horizons,
                                  args.history)
    print(title[0])
    print(
        markdown_table(('horizon', 'forecast', 'future frame-mAP@0.5',
                        'ADE px', 'ADE / size', 'anticipation mAP', 'persons'),
                       rows))


if __name__ == '__main__':
    main()
