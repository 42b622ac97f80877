"""Operators launched and host synchronisations of ``predict`` and of one
training step of detector configs, per part.

    python tools/analysis_tools/profile_model.py CONFIG [CONFIG ...] \
        [--shape T H W] [--batch-size 1] [--no-train] [--threads 1] \
        [--device cuda] [--json OUT.json]

What is counted and how: :mod:`stmixer_mm.benchmarks.profile`.
"""
import argparse

import torch

from stmixer_mm.benchmarks.profile import profile_configs


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='count the operators and host synchronisations of '
        'predict and of one training step')
    p.add_argument('configs', nargs='+')
    p.add_argument(
        '--shape',
        type=int,
        nargs=3,
        default=None,
        metavar=('T', 'H', 'W'),
        help="default: the config's clip_len x 128 x 160")
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--no-train', action='store_true', help='predict only')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', default=None, help='also write the rows here')
    p.add_argument(
        '--device',
        default='cpu',
        help='where the model runs (default: cpu); on cuda the '
        'synchronisations CUDA reports (set_sync_debug_mode) are counted '
        'too')
    p.add_argument(
        '--timeline',
        action='store_true',
        help='on cuda: also where the time of predict goes (wall time, '
        'GPU busy time, kernels, launches, synchronisations; '
        'stmixer_mm.benchmarks.timeline)')
    args = p.parse_args(argv)
    dev = args.device.split(':')[0]
    if dev not in ('cpu', 'cuda'):
        p.error(f'--device must be cpu or cuda, got {args.device}')
    if dev == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: CUDA is not available on this machine')
    if args.timeline and dev != 'cuda':
        p.error('--timeline needs --device cuda')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return profile_configs(
        args.configs,
        shape=args.shape,
        batch_size=args.batch_size,
        train=not args.no_train,
        seed=args.seed,
        json=args.json,
        device=args.device,
        timeline=args.timeline)


if __name__ == '__main__':
    main()
