"""Speed and memory of the STMixer decoder: fast path vs reference sampling.

    python tools/analysis_tools/benchmark_decoder.py [CONFIG] \\
        [--threads 1] [--batch 1] [--input-size 256 320] [--repeats 5] \\
        [--warmup 1] [--profile-rows 15] [--bf16]

Method: :mod:`stmixer_mm.benchmarks.decoder`; shared CPU: ``--threads 1``.
"""
import argparse

import torch

from stmixer_mm.benchmarks.decoder import DEFAULT_CONFIG, benchmark_decoder


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='benchmark the STMixer decoder: fast path vs '
        "impl='reference' sampling")
    p.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    p.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--batch', type=int, default=1)
    p.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        default=[256, 320],
        metavar=('H', 'W'),
        help='network input size; the maps are H/s x W/s')
    p.add_argument(
        '--num-queries',
        type=int,
        default=None,
        help="default: the config's query generator's num_queries")
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch.set_num_threads (0: leave as is)')
    p.add_argument(
        '--profile-rows',
        type=int,
        default=15,
        help='rows of the profile tables (0: no profile)')
    p.add_argument('--no-train', action='store_true', help='inference only')
    p.add_argument(
        '--bf16',
        action='store_true',
        help='also time bf16 autocast inference of the fast path')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    kwargs = vars(args)
    kwargs.pop('threads')
    return benchmark_decoder(**kwargs)


if __name__ == '__main__':
    main()
