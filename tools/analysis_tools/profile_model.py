"""Operators launched and host synchronisations of ``predict`` and of one
training step of detector configs, per part.

    python tools/analysis_tools/profile_model.py CONFIG [CONFIG ...]

What is counted and how: :mod:`stmixer_mm.benchmarks.profile`."""
import argparse

import torch

from stmixer_mm.benchmarks.common import add_arguments, with_threads
from stmixer_mm.benchmarks.profile import profile_configs


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='count the operators and host synchronisations of '
        'predict and of one training step')
    p.add_argument('configs', nargs='+')
    add_arguments(
        p,
        dict(
            shape="default: the config's clip_len x 128 x 160",
            json='also write the rows here',
            device='where the model runs (default: cpu); on cuda the '
            'synchronisations CUDA reports (set_sync_debug_mode) are counted '
            'too'),
        shape=None,
        batch_size=1,
        threads=1,
        seed=0,
        json=None,
        device='cpu')
    p.add_argument('--no-train', action='store_true', help='predict only')
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
    kwargs = with_threads(parse_args(argv))
    kwargs['train'] = not kwargs.pop('no_train')
    return profile_configs(**kwargs)


if __name__ == '__main__':
    main()
