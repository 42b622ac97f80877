"""Parameter count, forward latency and clips/s of a detector config.

    python tools/analysis_tools/benchmark_model.py CONFIG \
        [--shape T H W] [--batch-size 1] [--repeats 5] [--warmup 1] \
        [--device cpu] [--checkpoint CKPT] [--amp] [--threads N] \
        [--onnx] [--cfg-options k=v]

The input is a random clip of the given shape fed through the model's data
preprocessor and ``predict`` (the whole inference path: backbone, neck,
decoder, post-processing). Prints one table.

``--onnx`` (CPU, fp32) also exports the model for this clip size
(``stmixer_mm.deployment``, as ``tools/deployment/export_onnx.py`` does),
checks that ONNX Runtime gives PyTorch's outputs (stops otherwise), and
times ONNX Runtime on the same clips, interleaved with PyTorch run by run:
normalisation + graph + numpy post-processing against the data
preprocessor + ``predict``. ``--threads`` sets both libraries' threads.
"""
import argparse
import copy
import os.path as osp
import statistics
import tempfile
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.structures import InstanceData

from stmixer_mm.apis import init_detector


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='benchmark a detector config')
    p.add_argument('config')
    p.add_argument('--checkpoint')
    p.add_argument('--shape', type=int, nargs=3, metavar=('T', 'H', 'W'),
                   default=None,
                   help='clip shape; default: the config clip_len and 256x320')
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu')
    p.add_argument('--amp', action='store_true', help='fp16/bf16 autocast')
    p.add_argument('--threads', type=int,
                   help='CPU threads of PyTorch (and ONNX Runtime with '
                   '--onnx); default: PyTorch\'s default')
    p.add_argument('--onnx', action='store_true',
                   help='also time ONNX Runtime (CPU) on the same clips')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    if args.onnx and (args.device != 'cpu' or args.amp):
        p.error('--onnx times ONNX Runtime on the CPU in fp32 beside '
                'PyTorch: use it with --device cpu and without --amp')
    if args.threads is not None and args.threads <= 0:
        p.error(f'--threads must be positive, got {args.threads}')
    return args


def make_batch(batch_size, t, h, w):
    from mmaction.structures import ActionDataSample
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, t, h, w), dtype=torch.uint8))
        s = ActionDataSample()
        s.set_metainfo(dict(img_shape=(h, w), video_id='bench',
                            timestamp=0))
        s.gt_instances = InstanceData()
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def onnx_runner(cfg, args, model, data, work_dir):
    """Export ``model`` for the benchmark's clips, check ONNX Runtime
    against it, and return ``(run, info)``: ``run()`` does the ONNX Runtime
    inference path on ``data`` (normalisation, graph, numpy
    post-processing).

    Raises:
        SystemExit: When ONNX Runtime and PyTorch disagree (the latency of
            a wrong graph would mean nothing).
    """
    import numpy as np

    from stmixer_mm.deployment import (compare_with_torch, create_ort_session,
                                       export_onnx, normalize_clip,
                                       postprocess, run_ort, set_sampling_impl)
    export_cfg = copy.deepcopy(cfg)  # set_sampling_impl changes nested dicts
    if args.cfg_options is not None:
        export_cfg.merge_from_dict(args.cfg_options)
    set_sampling_impl(export_cfg, 'reference')  # GridSample in the graph
    export_model = init_detector(export_cfg, None, 'cpu')
    export_model.load_state_dict(model.state_dict())
    onnx_file = osp.join(work_dir, 'model.onnx')
    t0 = time.perf_counter()
    meta = export_onnx(export_model, onnx_file, data['inputs'][0].shape[1:],
                       batch_size=len(data['inputs']))
    export_s = time.perf_counter() - t0
    threads = torch.get_num_threads()
    report = compare_with_torch(model, onnx_file, meta, threads=threads)
    if not report['ok']:
        raise SystemExit('ONNX Runtime does not reproduce PyTorch: ' +
                         '; '.join(report['errors']))
    session = create_ort_session(onnx_file, threads=threads)
    frames = [clip.permute(1, 2, 3, 0).numpy() for clip in data['inputs']]

    def run():
        clip = np.concatenate([normalize_clip(f, meta) for f in frames])
        return postprocess(run_ort(session, clip), meta)

    return run, dict(
        export_s=export_s, threads=threads, check=report, meta=meta)


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    model = init_detector(cfg, args.checkpoint, args.device,
                          cfg_options=args.cfg_options)
    if args.shape is None:
        from stmixer_mm.apis import clip_sampling_from_cfg
        t = clip_sampling_from_cfg(model.cfg)[0]
        args.shape = (t, 256, 320)
    t, h, w = args.shape
    n_params = sum(p.numel() for p in model.parameters())
    data = make_batch(args.batch_size, t, h, w)
    dev = torch.device(args.device)
    dtype = torch.float16 if dev.type == 'cuda' else torch.bfloat16

    def run():
        with torch.no_grad(), torch.autocast(dev.type, dtype=dtype,
                                             enabled=args.amp):
            model.test_step(data)
        if dev.type == 'cuda':
            torch.cuda.synchronize()

    ort_run = None
    if args.onnx:
        tmp = tempfile.TemporaryDirectory()
        ort_run, ort_info = onnx_runner(cfg, args, model, data, tmp.name)

    for _ in range(args.warmup):
        run()
        if ort_run is not None:
            ort_run()
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times, ort_times = [], []
    for _ in range(args.repeats):  # interleaved: both see the same load
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if ort_run is not None:
            t0 = time.perf_counter()
            ort_run()
            ort_times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f'config      : {args.config}')
    print(f'device      : {args.device} (threads {torch.get_num_threads()})'
          f'{" amp" if args.amp else ""}')
    print(f'input       : {args.batch_size} x 3 x {t} x {h} x {w}')
    print(f'parameters  : {n_params / 1e6:.2f} M')
    print(f'forward     : median {med * 1000:.1f} ms, min '
          f'{min(times) * 1000:.1f} ms over {args.repeats} runs')
    print(f'throughput  : {args.batch_size / med:.2f} clips/s')
    if dev.type == 'cuda':
        print(f'peak memory : '
              f'{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB')
    result = dict(params=n_params, median_s=med, times=times)
    if ort_run is not None:
        ort_med = statistics.median(ort_times)
        check = ort_info['check']
        print(f'onnxruntime : median {ort_med * 1000:.1f} ms, min '
              f'{min(ort_times) * 1000:.1f} ms over {args.repeats} runs '
              f'(CPU, threads {ort_info["threads"]}, interleaved with '
              f'PyTorch; {ort_info["meta"]["exporter"]} export, opset '
              f'{ort_info["meta"]["opset"]}, reference sampling (GridSample), '
              f'exported in {ort_info["export_s"]:.1f} s)')
        print(f'ort/pytorch : {ort_med / med:.2f}x the time '
              f'({med / ort_med:.2f}x the speed); outputs checked: max '
              f'|ORT - PyTorch| person {check["person_scores"]:.1e}, '
              f'actions {check["action_scores"]:.1e}, boxes '
              f'{check["bboxes"]:.1e} (normalised)')
        tmp.cleanup()
        result.update(
            onnx_median_s=ort_med,
            onnx_times=ort_times,
            onnx_check=check,
            onnx_export_s=ort_info['export_s'])
    return result


if __name__ == '__main__':
    main()
