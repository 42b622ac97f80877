"""Speed and memory of the implementations of STMixer's 4-D sampling.

    python tools/analysis_tools/benchmark_sampling.py \
        [--device cpu] [--batch-sizes 1 8] [--repeats 5] [--warmup 1] \
        [--impls reference pytorch mmcv] [--threads N]

Times ``sample_4d`` at the sizes of the official ViT-B 16x4 model (N=100
queries, C=256, G=4 groups, P=32 points, T=8 frames, a 256x340 input with
maps 64x85, 32x43, 16x22, 8x11 at strides 4/8/16/32): ``fwd`` without
autograd (inference) and ``fwd+bwd`` (forward with autograd, then the
backward into the maps and the points), the median of ``--repeats`` runs
after ``--warmup`` ones. ``peak`` is the memory allocated by one
``fwd+bwd`` above what the inputs hold (CUDA: ``max_memory_allocated``;
CPU: the allocation events of ``torch.profiler``). ``x ref`` columns are
speed-ups (time) or ratios (memory) relative to ``impl='reference'`` at the
same batch size, and ``max|diff|`` the largest deviation of the output from
it. Prints one table. On a CPU shared with other work, ``--threads 1``
gives steadier numbers (oversubscribed OpenMP threads wait on each other).
"""
import argparse
import statistics
import time
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

from stmixer_mm.models.layers import make_sample_points, sample_4d
from stmixer_mm.models.layers.sampling.mmcv_path import _msda_cuda_function
from stmixer_mm.utils.benchmark import peak_memory, synchronize

N_QUERIES, CHANNELS, GROUPS, POINTS, FRAMES = 100, 256, 4, 32, 8
INPUT_HW = (256, 340)
STRIDES = (4, 8, 16, 32)


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
    return p.parse_args(argv)


def map_sizes(hw: Tuple[int, int] = INPUT_HW) -> List[Tuple[int, int]]:
    """Map sizes of a ``hw`` input, rounded up as strided convs do."""
    return [(-(-hw[0] // s), -(-hw[1] // s)) for s in STRIDES]


def make_inputs(batch: int, device: torch.device,
                seed: int) -> Tuple[Tensor, List[Tensor], Tensor]:
    """Maps, realistic sampling points and an output gradient.

    Returns:
        tuple: points ``[B, N, 1, G*P, 3]``, maps ``[B, C, T, H_l, W_l]``
        and a gradient ``[B, N, G, T, P, C/G]``.
    """
    g = torch.Generator().manual_seed(seed)
    H, W = INPUT_HW
    values = [
        torch.randn(batch, CHANNELS, FRAMES, h, w, generator=g)
        for h, w in map_sizes()
    ]
    # boxes spread over the frame, offsets as after a few stages
    wh = torch.rand(batch, N_QUERIES, 2, generator=g) * 0.5 + 0.1
    wh = wh * torch.tensor([W, H])
    xy = torch.rand(batch, N_QUERIES, 2, generator=g) * torch.tensor([W, H])
    xyzr = torch.cat([
        xy,
        wh.prod(-1, keepdim=True).sqrt().log2(),
        (wh[..., 1:] / wh[..., :1]).log2()
    ], -1)
    offset = torch.rand(batch, N_QUERIES, GROUPS * POINTS, 3, generator=g)
    offset[..., :2] -= 0.5
    offset[..., 2] = offset[..., 2] * 2 - 1
    points = make_sample_points(offset.flatten(2), GROUPS * POINTS, xyzr)
    grad = torch.randn(
        batch,
        N_QUERIES,
        GROUPS,
        FRAMES,
        POINTS,
        CHANNELS // GROUPS,
        generator=g)
    return (points.to(device), [v.to(device) for v in values], grad.to(device))


def median_time(fn: Callable[[], None], device: torch.device, repeats: int,
                warmup: int) -> float:
    """Median wall time of ``fn`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_one(impl: str, batch: int, args) -> Dict[str, float]:
    device = torch.device(args.device)
    points, values, grad = make_inputs(batch, device, args.seed)
    points.requires_grad_()
    for v in values:
        v.requires_grad_()

    def forward():
        with torch.no_grad():
            sample_4d(points, values, STRIDES, POINTS, impl=impl)

    def forward_backward():
        out = sample_4d(points, values, STRIDES, POINTS, impl=impl)
        torch.autograd.backward(out, grad)
        points.grad = None
        for v in values:
            v.grad = None

    with torch.no_grad():
        out = sample_4d(points, values, STRIDES, POINTS, impl=impl)
    return dict(
        out=out,
        fwd=median_time(forward, device, args.repeats, args.warmup),
        fwd_bwd=median_time(forward_backward, device, args.repeats,
                            args.warmup),
        peak=peak_memory(forward_backward, device))


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [' | '.join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, '-+-'.join('-' * w for w in widths))
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    impls = args.impls
    if impls is None:
        impls = ['reference', 'pytorch']
        if device.type == 'cuda' and _msda_cuda_function() is not None:
            impls.append('mmcv')
    if 'reference' not in impls:
        impls = ['reference'] + impls  # the ratios need it

    header = [
        'B', 'impl', 'fwd ms', 'x ref', 'fwd+bwd ms', 'x ref', 'peak MiB',
        'x ref', 'max|diff|'
    ]
    rows = [header]
    for batch in args.batch_sizes:
        results = {impl: bench_one(impl, batch, args) for impl in impls}
        ref = results['reference']
        for impl in impls:
            r = results[impl]
            diff = (r['out'] - ref['out']).abs().max().item()
            rows.append([
                str(batch), impl, f"{r['fwd'] * 1e3:.1f}",
                f"{ref['fwd'] / r['fwd']:.2f}", f"{r['fwd_bwd'] * 1e3:.1f}",
                f"{ref['fwd_bwd'] / r['fwd_bwd']:.2f}",
                f"{r['peak'] / 2**20:.1f}",
                f"{r['peak'] / max(ref['peak'], 1):.2f}", f'{diff:.1e}'
            ])
    hw = ', '.join(f'{h}x{w}' for h, w in map_sizes())
    print(f'sample_4d on {device} ({torch.get_num_threads()} threads), '
          f'N={N_QUERIES} C={CHANNELS} G={GROUPS} P={POINTS} T={FRAMES}, '
          f'maps {hw}; median of {args.repeats}')
    print(format_table(rows))


if __name__ == '__main__':
    main()
