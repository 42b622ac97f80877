"""Speed and memory of the implementations of STMixer's 4-D sampling.

    python tools/analysis_tools/benchmark_sampling.py \
        [--device cpu] [--batch-sizes 1 8] [--repeats 5] [--warmup 1] \
        [--impls reference pytorch mmcv] [--threads N] \
        [--dtypes fp32 bf16 fp16] [--json OUT.json]

Exit status 1 on a parity failure; :mod:`stmixer_mm.benchmarks.sampling`.
"""
import argparse

import torch

from stmixer_mm.benchmarks.sampling import DTYPES, benchmark_sampling


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='benchmark sample_4d')
    p.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 8])
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument(
        '--impls',
        nargs='+',
        choices=['reference', 'pytorch', 'mmcv'],
        default=None,
        help="default: reference and pytorch, plus mmcv on CUDA (on CPU "
        "'mmcv' falls back to 'pytorch')")
    p.add_argument('--threads', type=int, help='torch.set_num_threads')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--dtypes',
        nargs='+',
        choices=list(DTYPES),
        default=['fp32'],
        help='dtype of the maps and points (bf16/fp16: what the decoder '
        'sees under autocast)')
    p.add_argument(
        '--no-parity', action='store_true', help='timing table only')
    p.add_argument('--json', help='write every number to this file')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    kwargs = vars(args)
    kwargs.pop('threads')
    return benchmark_sampling(**kwargs)


if __name__ == '__main__':
    main()
