"""Speed and memory of the implementations of STMixer's 4-D sampling.

    python tools/analysis_tools/benchmark_sampling.py [--device cuda]

``sample_4d`` at the official ViT-B 16x4 sizes; parity against a float64
reference within ``PARITY_TOL``, else exit status 1. Details:
docs/en/gpu.md."""
import argparse
import statistics
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from stmixer_mm.apps.benchmarks.common import (add_arguments, format_table,
                                               peak_memory, random_xyzr,
                                               time_runs, with_threads,
                                               write_json)
from stmixer_mm.models.layers import make_sample_points, sample_4d
from stmixer_mm.ops.multi_scale_deform_attn import msda_cuda_function

N_QUERIES, CHANNELS, GROUPS, POINTS, FRAMES = 100, 256, 4, 32, 8
INPUT_HW = (256, 340)
STRIDES = (4, 8, 16, 32)
DTYPES = dict(fp32=torch.float32, bf16=torch.bfloat16, fp16=torch.float16)
#: Largest error relative to the float64 reference's largest value: (output,
#: gradients); fp32 also compares 'mmcv' with 'pytorch' directly (absolute,
#: 1e-5 on the output). Unit roundoff: bf16 3.9e-3 (8 bits), fp16 4.9e-4 (11).
PARITY_TOL = dict(fp32=(1e-5, 1e-5), bf16=(2e-2, 5e-2), fp16=(4e-3, 1e-2))


def map_sizes(hw: Tuple[int, int] = INPUT_HW) -> List[Tuple[int, int]]:
    """Map sizes of a ``hw`` input, rounded up as strided convs do."""
    return [(-(-hw[0] // s), -(-hw[1] // s)) for s in STRIDES]


def make_inputs(batch: int, device: torch.device,
                seed: int) -> Tuple[Tensor, List[Tensor], Tensor]:
    """Points ``[B, N, 1, G*P, 3]``, maps ``[B, C, T, H_l, W_l]`` and output
    gradient ``[B, N, G, T, P, C/G]``."""
    g = torch.Generator().manual_seed(seed)
    values = [
        torch.randn(batch, CHANNELS, FRAMES, h, w, generator=g)
        for h, w in map_sizes()
    ]
    # boxes spread over the frame, offsets as after a few stages
    xyzr = random_xyzr(batch, N_QUERIES, INPUT_HW, g)
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
    return statistics.median(time_runs(fn, warmup, repeats, device)[0])


def cast_inputs(inputs: Tuple[Tensor, List[Tensor], Tensor],
                dtype: torch.dtype) -> Tuple[Tensor, List[Tensor], Tensor]:
    points, values, grad = inputs
    return (points.to(dtype), [v.to(dtype) for v in values], grad.to(dtype))


def bench_one(impl: str,
              batch: int,
              device: torch.device,
              seed: int = 0,
              repeats: int = 5,
              warmup: int = 1,
              dtype: torch.dtype = torch.float32) -> Dict[str, float]:
    """Output, median ``fwd`` / ``fwd_bwd`` seconds and ``peak`` bytes of one
    implementation at one batch size."""
    points, values, grad = cast_inputs(make_inputs(batch, device, seed), dtype)
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
        fwd=median_time(forward, device, repeats, warmup),
        fwd_bwd=median_time(forward_backward, device, repeats, warmup),
        peak=peak_memory(forward_backward, device))


def _out_and_grads(impl: str, points: Tensor, values: List[Tensor],
                   grad: Tensor) -> Tuple[Tensor, List[Tensor]]:
    """Output and gradients (points, then every map) of one call."""
    points = points.detach().requires_grad_()
    values = [v.detach().requires_grad_() for v in values]
    out = sample_4d(points, values, STRIDES, POINTS, impl=impl)
    grads = torch.autograd.grad(out, [points] + values, grad)
    return out.detach(), [g.detach() for g in grads]


def _rel(actual: Tensor, truth: Tensor) -> float:
    """max|actual - truth| / max|truth| (computed in float64)."""
    diff = (actual.double() - truth.double()).abs().max().item()
    return diff / max(truth.abs().max().item(), 1e-30)


def parity_one(impls: Sequence[str],
               batch: int,
               dtype_name: str,
               device: torch.device,
               seed: int = 0) -> List[Dict[str, object]]:
    """Every impl against the float64 reference of the same inputs, and in fp32
    'mmcv' against 'pytorch' (:data:`PARITY_TOL`)."""
    inputs = cast_inputs(make_inputs(batch, device, seed), DTYPES[dtype_name])
    points, values, grad = inputs
    truth_out, truth_grads = _out_and_grads(
        'reference', *cast_inputs(inputs, torch.float64))
    results = {}
    rows = []
    tol_out, tol_grad = PARITY_TOL[dtype_name]
    common = dict(batch=batch, dtype=dtype_name)
    for impl in impls:
        out, grads = _out_and_grads(impl, points, values, grad)
        results[impl] = (out, grads)
        rel_out = _rel(out, truth_out)
        rel_pts = _rel(grads[0], truth_grads[0])
        rel_maps = max(_rel(g, t) for g, t in zip(grads[1:], truth_grads[1:]))
        rows.append(
            dict(
                common,
                impl=impl,
                against='float64 reference (rel)',
                out=rel_out,
                grad_points=rel_pts,
                grad_maps=rel_maps,
                tol_out=tol_out,
                tol_grad=tol_grad,
                # reference in bf16/fp16: no model path, informative only;
                # bf16/fp16 point gradient unchecked (jumps on pixel edges)
                ok=None if impl == 'reference' and dtype_name != 'fp32' else
                (rel_out <= tol_out and rel_maps <= tol_grad and
                 (dtype_name != 'fp32' or rel_pts <= tol_grad))))
        del out, grads
    if dtype_name == 'fp32' and 'mmcv' in results and 'pytorch' in results:
        (o_m, g_m), (o_p, g_p) = results['mmcv'], results['pytorch']
        abs_out = (o_m - o_p).abs().max().item()
        abs_pts = (g_m[0] - g_p[0]).abs().max().item()
        rel_pts = _rel(g_m[0], g_p[0])
        rel_maps = max(_rel(a, b) for a, b in zip(g_m[1:], g_p[1:]))
        abs_maps = max(
            (a - b).abs().max().item() for a, b in zip(g_m[1:], g_p[1:]))
        rows.append(
            dict(
                common,
                impl='mmcv',
                against='pytorch (abs; grads also rel)',
                out=abs_out,
                grad_points=abs_pts,
                grad_maps=abs_maps,
                grad_points_rel=rel_pts,
                grad_maps_rel=rel_maps,
                tol_out=1e-5,
                tol_grad=1e-5,
                ok=abs_out <= 1e-5 and max(rel_pts, rel_maps) <= 1e-5))
    return rows


def benchmark_sampling(device: str = 'cpu',
                       batch_sizes: Sequence[int] = (1, 8),
                       repeats: int = 5,
                       warmup: int = 1,
                       impls: Optional[Sequence[str]] = None,
                       seed: int = 0,
                       dtypes: Sequence[str] = ('fp32', ),
                       no_parity: bool = False,
                       json: Optional[str] = None) -> Dict[str, Any]:
    """Print the timing table, then the parity table (``SystemExit`` above
    a tolerance); write the report to ``json`` if given and return it."""
    device = torch.device(device)
    impls = None if impls is None else list(impls)
    if impls is None:
        impls = ['reference', 'pytorch']
        if device.type == 'cuda' and msda_cuda_function() is not None:
            impls.append('mmcv')
    if 'reference' not in impls:
        impls = ['reference'] + impls  # the ratios need it

    header = [
        'B', 'dtype', 'impl', 'fwd ms', 'x ref', 'fwd+bwd ms', 'x ref',
        'peak MiB', 'x ref', 'max|diff|'
    ]
    rows = [header]
    records = []
    for batch in batch_sizes:
        for dtype_name in dtypes:
            results = {
                impl:
                bench_one(impl, batch, device, seed, repeats, warmup,
                          DTYPES[dtype_name])
                for impl in impls
            }
            ref = results['reference']
            for impl in impls:
                r = results[impl]
                diff = (r['out'].float() - ref['out'].float()).abs().max()
                diff = diff.item()
                rows.append([
                    str(batch), dtype_name, impl, f"{r['fwd'] * 1e3:.2f}",
                    f"{ref['fwd'] / r['fwd']:.2f}",
                    f"{r['fwd_bwd'] * 1e3:.2f}",
                    f"{ref['fwd_bwd'] / r['fwd_bwd']:.2f}",
                    f"{r['peak'] / 2**20:.1f}",
                    f"{r['peak'] / max(ref['peak'], 1):.2f}", f'{diff:.1e}'
                ])
                records.append(
                    dict(
                        batch=batch,
                        dtype=dtype_name,
                        impl=impl,
                        fwd_ms=r['fwd'] * 1e3,
                        fwd_bwd_ms=r['fwd_bwd'] * 1e3,
                        peak_mib=r['peak'] / 2**20,
                        max_diff_vs_reference=diff))
            del results, ref
    hw = ', '.join(f'{h}x{w}' for h, w in map_sizes())
    print(f'sample_4d on {device} ({torch.get_num_threads()} threads), '
          f'N={N_QUERIES} C={CHANNELS} G={GROUPS} P={POINTS} T={FRAMES}, '
          f'maps {hw}; median of {repeats}')
    print(format_table(rows), flush=True)
    report = dict(
        device=str(device),
        device_name=(torch.cuda.get_device_name(device)
                     if device.type == 'cuda' else 'cpu'),
        torch=torch.__version__,
        sizes=dict(
            N=N_QUERIES,
            C=CHANNELS,
            G=GROUPS,
            P=POINTS,
            T=FRAMES,
            maps=map_sizes()),
        repeats=repeats,
        timing=records,
        parity=[])
    failed = []
    if not no_parity:
        parity_impls = [i for i in impls if i != 'reference']
        prow = [[
            'B', 'dtype', 'impl', 'against', 'out', 'grad points', 'grad maps',
            'tol (out, grad)', 'ok'
        ]]
        for batch in batch_sizes:
            for dtype_name in dtypes:
                for r in parity_one(['reference'] + parity_impls, batch,
                                    dtype_name, device, seed):
                    report['parity'].append(r)
                    prow.append([
                        str(batch), dtype_name, r['impl'], r['against'],
                        f"{r['out']:.1e}", f"{r['grad_points']:.1e}",
                        f"{r['grad_maps']:.1e}",
                        f"{r['tol_out']:.0e}, {r['tol_grad']:.0e}", {
                            True: 'yes',
                            False: 'NO',
                            None: '-'
                        }[r['ok']]
                    ])
                    if r['ok'] is False:
                        failed.append(r)
        print()
        print('parity: largest |difference|, relative to the largest '
              '|value| of the float64 reference of the same inputs '
              '(fp32 mmcv vs pytorch: absolute; its gradients relative)')
        print(format_table(prow), flush=True)
    if json:
        write_json(json, report)
    if failed:
        raise SystemExit(f'{len(failed)} parity check(s) above their '
                         'tolerance (rows marked NO)')
    return report


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
