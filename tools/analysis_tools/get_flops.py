"""FLOPs and parameters of a whole STMixer detector, decoder included.

    python tools/analysis_tools/get_flops.py CONFIG [--shape T H W]

How it counts: :mod:`stmixer_mm.apps.benchmarks.flops`."""
import argparse
from typing import Any, Dict, Optional, Sequence

from stmixer_mm.apps.benchmarks.common import model_config_or_exit
from stmixer_mm.apps.benchmarks.flops import (build_detector, count_flops,
                                              default_clip_len)
from stmixer_mm.apps.cli import CONFIG_HELP, add_cfg_options


def format_count(n: float) -> str:
    """``n`` with a T/G/M/K suffix (3 decimals)."""
    for unit, div in (('T', 1e12), ('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if n >= div:
            return f'{n / div:.3f} {unit}'
    return f'{n:.0f}'


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(
        description='FLOPs of a whole STMixer detector (decoder included)')
    p.add_argument('config', help=CONFIG_HELP)
    p.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        help='input clip (frames, height, width); default: the test '
        "pipeline's clip_len and 256x320")
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument(
        '--depth', type=int, default=3, help='module depth of the table')
    add_cfg_options(p)
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error('--batch-size must be >= 1')
    if args.shape is not None and min(args.shape) < 1:
        p.error('--shape values must be >= 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    import stmixer_mm  # noqa: F401  (registration)
    cfg = model_config_or_exit(args.config, args.cfg_options)
    shape = args.shape or (default_clip_len(cfg), 256, 320)
    model = build_detector(cfg)
    res = count_flops(model, shape, args.batch_size, args.depth)
    params = sum(p.numel() for p in model.parameters())
    total = res['total']

    def pct(n):
        return f'{100 * n / total:5.1f} %' if total else '  n/a'

    print(f'Input: {res["input_shape"]} (B, C, T, H, W; padded as the '
          'data preprocessor pads)')
    print(f'Parameters: {format_count(params)}')
    print(f'{"module":<48} {"GFLOPs":>10} {"GMACs":>10} {"share":>8}')
    for name, n in sorted(res['modules'].items()):
        if name.count('.') < args.depth:
            print(f'{name:<48} {n / 1e9:10.4f} {n / 2e9:10.4f} {pct(n):>8}')
    print(f'{"whole detector":<48} {total / 1e9:10.4f} {total / 2e9:10.4f}')
    print('By operator: ' +
          ', '.join(f'{op} {n / 1e9:.4f} G' for op, n in sorted(
              res['by_operator'].items(), key=lambda kv: -kv[1])))
    print(f'Decoder share: {100 * res["decoder_share"]:.1f} % of '
          f'{total / 1e9:.3f} GFLOPs ({total / 2e9:.3f} GMACs)')
    res['params'] = params
    return res


if __name__ == '__main__':
    main()
