r"""Parameter count, forward latency and clips/s of a detector config.

    python tools/analysis_tools/benchmark_model.py CONFIG [--onnx]
    python tools/analysis_tools/benchmark_model.py CONFIG [CONFIG ...] --table
    python tools/analysis_tools/benchmark_model.py --official [--vs-official]

Modes and results: docs/en/benchmarks.md."""
import argparse
import os.path as osp

import torch

from stmixer_mm.benchmarks.common import (add_arguments, configs_and_devices,
                                          select_dtypes)
from stmixer_mm.benchmarks.model import (benchmark_config, benchmark_table,
                                         benchmark_vs_official)
from stmixer_mm.cli import add_cfg_options

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_METAFILE = osp.join(REPO, 'configs', 'stmixer', 'metafile.yml')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='benchmark a detector config')
    p.add_argument(
        'config',
        nargs='*',
        help='config file(s); with --official, added to the metafile\'s')
    p.add_argument('--checkpoint')
    add_arguments(
        p,
        dict(
            shape='clip shape; default: the config clip_len and 256x320',
            device='default: cuda if available, else cpu; in table mode: '
            'the CPU and CUDA if available'),
        shape=None,
        batch_size=1,
        repeats=5,
        warmup=1,
        device=None)
    p.add_argument('--amp', action='store_true', help='fp16/bf16 autocast')
    p.add_argument(
        '--threads',
        type=int,
        nargs='+',
        help='CPU threads of PyTorch (and ONNX Runtime with '
        '--onnx); default: PyTorch\'s default; with '
        '--vs-official several values run each config at each')
    p.add_argument(
        '--onnx',
        action='store_true',
        help='also time ONNX Runtime (CPU) on the same clips')
    add_cfg_options(p)
    table = p.add_argument_group('table mode')
    table.add_argument(
        '--official',
        action='store_true',
        help='one row per model of --metafile (the official configs)')
    table.add_argument('--metafile', default=DEFAULT_METAFILE)
    table.add_argument(
        '--table',
        action='store_true',
        help='table mode for the given config(s) (implied by --official and '
        'by several configs)')
    table.add_argument(
        '--bf16',
        action='store_true',
        help='bf16 autocast rows on every device, also where bf16 is not '
        'native (default: only where it is)')
    table.add_argument(
        '--fp32-only',
        action='store_true',
        help='fp32 rows only (no bf16 rows, even where bf16 is native)')
    table.add_argument(
        '--dtypes',
        nargs='+',
        choices=['fp32', 'bf16', 'fp16'],
        help='the rows\' dtypes (autocast for bf16/fp16) on every device, '
        'instead of fp32 + bf16 where native')
    add_arguments(
        table,
        dict(
            json='also write the rows to this file',
            seed='seed of the random weights and clips'),
        json=None,
        seed=0)
    table.add_argument(
        '--no-flops', action='store_true', help='skip the FLOP count')
    table.add_argument(
        '--vs-official',
        action='store_true',
        help='compare each config with the official stack (stock mmaction2 '
        'backbone + reference sampling), same weights and clips, '
        'interleaved; latency, clips/s, peak memory, ratio, output '
        'difference')
    table.add_argument(
        '--compile',
        action='store_true',
        help='with --vs-official: also time our model through its captured '
        'path (compile_cfg, every dtype) and report the compile time, '
        'graph breaks and difference from eager')
    table.add_argument(
        '--compile-mode',
        choices=[
            'default', 'reduce-overhead', 'max-autotune',
            'max-autotune-no-cudagraphs'
        ],
        help="with --compile: torch.compile's mode (default: "
        "'reduce-overhead', CUDA graphs, on cuda; 'default' on the CPU)")
    args = p.parse_args(argv)
    args.table = (
        args.table or args.official or args.vs_official
        or len(args.config) > 1)
    if args.compile and not args.vs_official:
        p.error('--compile is for --vs-official')
    if args.compile_mode and not args.compile:
        p.error('--compile-mode is for --compile')
    try:  # the table modes' dtype options, checked before any model
        select_dtypes([], args.dtypes, args.bf16, args.fp32_only)
    except ValueError as e:
        p.error(str(e))
    if not args.config and not args.official:
        p.error('give a CONFIG, or --official')
    if args.threads is not None:
        if min(args.threads) <= 0:
            p.error(f'--threads must be positive, got {args.threads}')
        if len(args.threads) > 1 and not args.vs_official:
            p.error('several --threads values are for --vs-official')
    if args.repeats < 1 or args.warmup < 0 or args.batch_size < 1:
        p.error('--repeats and --batch-size must be >= 1, --warmup >= 0')
    if args.shape is not None and min(args.shape) < 1:
        p.error(f'--shape values must be >= 1, got {args.shape}')
    if not args.table:
        for opt in ('dtypes', 'json'):
            if getattr(args, opt):
                p.error(f'--{opt} is for the table modes')
    if args.table:
        for opt in ('onnx', 'amp', 'checkpoint'):
            if getattr(args, opt):
                p.error(f'--{opt} is for one config (no table mode); the '
                        'table uses random weights, and --bf16 for the '
                        'bf16 rows')
        if args.device is not None and args.device.split(':')[0] not in (
                'cpu', 'cuda'):
            p.error(f'--device must be cpu or cuda, got {args.device}')
        return args
    if args.bf16:
        p.error('--bf16 is for table mode; use --amp with one config')
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    args.config = args.config[0]
    if args.onnx and (args.device != 'cpu' or args.amp):
        p.error('--onnx times ONNX Runtime on the CPU in fp32 beside '
                'PyTorch: use it with --device cpu and without --amp')
    return args


def main(argv=None):
    args = parse_args(argv)
    common = dict(
        shape=args.shape,
        batch_size=args.batch_size,
        warmup=args.warmup,
        repeats=args.repeats,
        cfg_options=args.cfg_options)
    if args.table:
        configs, devices, _ = configs_and_devices(args.config, args.official,
                                                  args.metafile, args.device)
    if args.vs_official:
        return benchmark_vs_official(
            configs,
            devices,
            threads=args.threads,
            seed=args.seed,
            bf16=args.bf16,
            fp32_only=args.fp32_only,
            dtypes=args.dtypes,
            compile=args.compile,
            compile_mode=args.compile_mode,
            json=args.json,
            **common)
    if args.threads is not None:
        torch.set_num_threads(args.threads[0])
    if args.table:
        return benchmark_table(
            configs,
            devices,
            seed=args.seed,
            bf16=args.bf16,
            dtypes=args.dtypes,
            fp32_only=args.fp32_only,
            no_flops=args.no_flops,
            json=args.json,
            **common)
    return benchmark_config(
        args.config,
        checkpoint=args.checkpoint,
        device=args.device,
        amp=args.amp,
        onnx=args.onnx,
        **common)


if __name__ == '__main__':
    main()
