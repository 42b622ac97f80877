"""The reference forecasts on perfect detections of a synthetic tube set
(``tools/experiments/forecast_references.py``, docs/en/forecasting.md)."""
from typing import Dict, List, Sequence

import numpy as np

from stmixer_mm.data_gen.settings import SyntheticAVASettings
from stmixer_mm.data_gen.synthetic_tubes import (TUBE_PRESETS,
                                                 build_tube_annotations)
from stmixer_mm.evaluation.functional import forecast as fc
from stmixer_mm.utils.json_logs import load_log


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


#: the forecasts of a trained run's table, and their metric-name suffixes
TRAINED_FORECASTS = (('model', ''), ('zero motion', '_zero_motion'),
                     ('constant velocity', '_constant_velocity'), ('oracle',
                                                                   '_oracle'))


def last_validation(work_dir: str) -> Dict[str, float]:
    """The metrics of the last validation with ``forecast/`` metrics in the
    newest mmengine json log under ``work_dir`` (:func:`load_log`).

    Raises:
        FileNotFoundError: No such folder, or no log in it.
        ValueError: No validation with ``forecast/`` metrics.
    """
    found = [
        r for r in load_log(work_dir)['val'] if any(
            k.startswith('forecast/') for k in r)
    ]
    if not found:
        raise ValueError(f'{work_dir}: no validation with forecast/ '
                         'metrics (ForecastMetric in val_evaluator?)')
    return found[-1]


def trained_rows(
    work_dirs: Sequence[str], horizons: Sequence[int] = (8, 16)
) -> List[List[str]]:
    """The table of trained runs (one per seed): per horizon and forecast,
    future frame-mAP@0.5, ADE px, ADE / size and anticipation mAP, mean and
    min-max over the runs; first row: the present's frame-mAP@0.5."""
    runs = [last_validation(d) for d in work_dirs]

    def cell(key: str, scale: float = 1.0, digits: int = 1) -> str:
        values = np.array([r[key] for r in runs], np.float64) * scale
        if len(values) == 1:
            return f'{values[0]:.{digits}f}'
        return (f'{values.mean():.{digits}f} ({values.min():.{digits}f}-'
                f'{values.max():.{digits}f})')

    rows = [[
        'present (t)', 'detections',
        cell('mAP/frameAP@0.5'), '-', '-', '-'
    ]]
    for h in horizons:
        for name, suffix in TRAINED_FORECASTS:
            row = [f'{h}', name, cell(f'forecast/fmAP@{h}{suffix}')]
            if suffix == '_oracle':
                row += ['-', '-', '-']
            else:
                row += [
                    cell(f'forecast/ADE@{h}{suffix}', digits=2),
                    cell(f'forecast/ADE_rel@{h}{suffix}', digits=3),
                    cell(f'forecast/antAP@{h}{suffix}')
                ]
            rows.append(row)
    return rows
