"""Where a trained forecaster loses the future (issue 62): probes of the
decoded queries (:mod:`stmixer_mm.benchmarks.forecast_probe`).

    python tools/experiments/forecast_probe.py CONFIG CHECKPOINT

CONFIG: the forecast quick start's config (``configs/quickstart/``)."""
import argparse

from stmixer_mm.benchmarks.forecast_probe import run_probe


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--test-stride',
        type=int,
        default=3,
        help='every stride-th test frame (3: coprime with the data\'s '
        '16-frame slots, so every phase of a slot is sampled)')
    parser.add_argument(
        '--train-stride',
        type=int,
        default=1,
        help='every stride-th training keyframe')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--out', help='JSON of the table')
    args = parser.parse_args(argv)

    run_probe(args.config, args.checkpoint, args.test_stride,
              args.train_stride, args.batch_size, args.out)


if __name__ == '__main__':
    main()
