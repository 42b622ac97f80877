"""Parameter count, forward latency and clips/s of a detector config.

    python tools/analysis_tools/benchmark_model.py CONFIG \
        [--shape T H W] [--batch-size 1] [--repeats 5] [--warmup 1] \
        [--device cpu] [--checkpoint CKPT] [--amp] [--cfg-options k=v]

The input is a random clip of the given shape fed through the model's data
preprocessor and ``predict`` (the whole inference path: backbone, neck,
decoder, post-processing). Prints one table.
"""
import argparse
import statistics
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
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


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


def main(argv=None):
    args = parse_args(argv)
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

    for _ in range(args.warmup):
        run()
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
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
    return dict(params=n_params, median_s=med, times=times)


if __name__ == '__main__':
    main()
