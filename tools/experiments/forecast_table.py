"""The table of trained forecasters (docs/en/forecasting.md): the last
validation of each ``tools/train.py`` run of a forecast config, beside the
references made from its own detections, as mean and range over the runs.

    python tools/experiments/forecast_table.py work_dirs/f49/seed0 ...
"""
import argparse

from stmixer_mm.benchmarks.common import markdown_table
from stmixer_mm.benchmarks.forecast import trained_rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--horizons', type=int, nargs='+', default=[8, 16])
    args = parser.parse_args(argv)
    print(
        markdown_table(('horizon', 'forecast', 'future frame-mAP@0.5',
                        'ADE px', 'ADE / size', 'anticipation mAP'),
                       trained_rows(args.work_dirs, args.horizons)))


if __name__ == '__main__':
    main()
