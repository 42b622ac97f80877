"""Speed and memory of the STMixer decoder: fast path vs reference sampling.

    python tools/analysis_tools/benchmark_decoder.py [CONFIG] --threads 1

Method: :mod:`stmixer_mm.benchmarks.decoder`."""
import argparse

from stmixer_mm.benchmarks.common import add_arguments, with_threads
from stmixer_mm.benchmarks.decoder import DEFAULT_CONFIG, benchmark_decoder


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='benchmark the STMixer decoder: fast path vs '
        "impl='reference' sampling")
    p.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    add_arguments(
        p, device='auto', batch=1, repeats=5, warmup=1, threads=1, seed=0)
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
    return p.parse_args(argv)


def main(argv=None):
    return benchmark_decoder(**with_threads(parse_args(argv)))


if __name__ == '__main__':
    main()
