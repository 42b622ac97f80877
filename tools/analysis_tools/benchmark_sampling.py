"""Speed and memory of the implementations of STMixer's 4-D sampling.

    python tools/analysis_tools/benchmark_sampling.py [--device cuda]

Exit status 1 on a parity failure; :mod:`stmixer_mm.benchmarks.sampling`."""
import argparse

from stmixer_mm.benchmarks.common import add_arguments, with_threads
from stmixer_mm.benchmarks.sampling import DTYPES, benchmark_sampling


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='benchmark sample_4d')
    add_arguments(
        p,
        dict(threads='torch.set_num_threads'),
        device='auto',
        repeats=5,
        warmup=1,
        threads=None,
        seed=0,
        json=None)
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 8])
    p.add_argument(
        '--impls',
        nargs='+',
        choices=['reference', 'pytorch', 'mmcv'],
        default=None,
        help="default: reference and pytorch, plus mmcv on CUDA (on CPU "
        "'mmcv' falls back to 'pytorch')")
    p.add_argument(
        '--dtypes',
        nargs='+',
        choices=list(DTYPES),
        default=['fp32'],
        help='dtype of the maps and points (bf16/fp16: what the decoder '
        'sees under autocast)')
    p.add_argument(
        '--no-parity', action='store_true', help='timing table only')
    return p.parse_args(argv)


def main(argv=None):
    return benchmark_sampling(**with_threads(parse_args(argv)))


if __name__ == '__main__':
    main()
