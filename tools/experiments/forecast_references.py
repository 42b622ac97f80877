"""The reference forecasts on perfect detections: what copying the present
(zero motion), extrapolating it (constant velocity) and seeing the future
(the oracle) score on a synthetic tube set (docs/en/forecasting.md)::

    python tools/experiments/forecast_references.py --motion lanes
"""
import argparse

from stmixer_mm.benchmarks.common import markdown_table
from stmixer_mm.benchmarks.forecast import reference_rows
from stmixer_mm.data_gen.synthetic_tubes import TUBE_PRESETS


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
