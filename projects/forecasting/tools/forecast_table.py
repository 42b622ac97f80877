"""The table of trained forecasters (docs/en/forecasting.md): the last
validation of each ``tools/train.py`` run of a forecast config, beside the
references made from its own detections, as mean and range over the runs.

    python projects/forecasting/tools/forecast_table.py work_dirs/f49/seed0 ...
"""
import argparse
from typing import Dict, List, Sequence

import numpy as np

from stmixer_mm.apps.benchmarks.common import markdown_table
from stmixer_mm.apps.json_logs import load_log

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--horizons', type=int, nargs='+', default=[8, 16])
    args = parser.parse_args(argv)
    try:
        rows = trained_rows(args.work_dirs, args.horizons)
    except (FileNotFoundError, ValueError) as e:  # a folder without its log
        raise SystemExit(f'forecast_table.py: {e}')
    print(
        markdown_table(('horizon', 'forecast', 'future frame-mAP@0.5',
                        'ADE px', 'ADE / size', 'anticipation mAP'), rows))


if __name__ == '__main__':
    main()
