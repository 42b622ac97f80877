r"""The quick start over seeds and thread counts: the table of
``configs/quickstart/README.md``. Each run (``tools/train.py CONFIG --seed S``
then ``tools/test.py``) is a fresh interpreter with ``OMP_NUM_THREADS`` set,
into ``<out-dir>/seed<S>_t<T>.json``; existing files are not rerun and a run's
folder is claimed before training, so several invocations fill one table.
Empty ``--seeds --threads`` only print the table of the runs made::

    python tools/experiments/quickstart_table.py --seeds 0 1 2 \
        --threads 1 2 --out-dir work_dirs/quickstart_table --stated 0.982
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Optional

from stmixer_mm.benchmarks.experiments import experiment_env

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CFG = osp.join(REPO, 'configs', 'quickstart',
                       'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py')
METRIC = 'mAP/overall'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CFG)
    parser.add_argument('--seeds', type=int, nargs='*', default=[0, 1, 2])
    parser.add_argument('--threads', type=int, nargs='*', default=[1, 2])
    parser.add_argument('--out-dir', default='work_dirs/quickstart_table')
    parser.add_argument(
        '--stated', type=float, help="the README's mAP/overall")
    parser.add_argument(
        '--band', type=float, default=0.03, help='allowed distance')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], help='for both tools')
    return parser.parse_args(argv)


def _tool(script, args, threads):
    start = time.time()
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', script)] + args,
        cwd=REPO,
        env=experiment_env(threads, cuda=True),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.exit(f'{script} {" ".join(args)} exited with '
                 f'{proc.returncode}:\n{proc.stdout[-3000:]}')
    return proc.stdout, time.time() - start


def run_one(args, seed: int, threads: int) -> Optional[dict]:
    """Train and test one seed at one thread count; returns the record, or
    None when another invocation has the run (its folder exists without the
    last checkpoint). A folder with the last checkpoint is only tested."""
    work = osp.join(args.out_dir, f'seed{seed}_t{threads}')
    options = ['--cfg-options'] + args.cfg_options if args.cfg_options else []
    last = osp.join(work, f'epoch_{args.epochs}.pth')
    train_s = None
    if not osp.exists(last):
        try:
            os.makedirs(work)  # claims the run
        except FileExistsError:
            print(f'{work}: another invocation is running it (or it stopped '
                  'before its last checkpoint: delete the folder to rerun)')
            return None
        _, train_s = _tool(
            'train.py', [args.config, '--work-dir', work, '--seed',
                         str(seed)] + options, threads)
    out, test_s = _tool(
        'test.py', [args.config, last, '--work-dir',
                    osp.join(work, 'test')] + options, threads)
    found = re.findall(re.escape(METRIC) + r': ([0-9.]+|nan)', out)
    if not found:
        sys.exit(f'no {METRIC} in the output of tools/test.py:\n{out[-2000:]}')
    return dict(
        seed=seed,
        threads=threads,
        map=float(found[-1]),
        train_s=None if train_s is None else round(train_s),
        test_s=round(test_s),
        checkpoint=last,
        config=args.config,
        cfg_options=args.cfg_options)


def table(records, stated=None, band=0.03) -> str:
    """The markdown table of ``records`` (one row per run, then the mean
    and range; with ``stated`` each run's distance from it)."""
    lines = [
        '| seed | threads | mAP/overall | distance from stated | '
        'training s |', '| --- | --- | --- | --- | --- |'
    ]
    for r in sorted(records, key=lambda r: (r['threads'], r['seed'])):
        dist = '-' if stated is None else f'{r["map"] - stated:+.3f}'
        lines.append(f'| {r["seed"]} | {r["threads"]} | {r["map"]:.3f} | '
                     f'{dist} | {r["train_s"]} |')
    maps = [r['map'] for r in records]
    if maps:
        mean = sum(maps) / len(maps)
        lines.append(f'| mean ({len(maps)} runs) | | {mean:.3f} '
                     f'[{min(maps):.3f}, {max(maps):.3f}] | | |')
        if stated is not None:
            inside = sum(abs(m - stated) <= band + 1e-9 for m in maps)
            lines.append(f'\n{inside} of {len(maps)} runs within '
                         f'+-{band} of {stated}')
    return '\n'.join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    from mmengine.config import Config
    args.epochs = Config.fromfile(args.config).train_cfg.max_epochs
    os.makedirs(args.out_dir, exist_ok=True)
    for threads in args.threads:
        for seed in args.seeds:
            path = osp.join(args.out_dir, f'seed{seed}_t{threads}.json')
            if osp.exists(path):
                continue
            record = run_one(args, seed, threads)
            if record is None:
                continue
            with open(path, 'x') as f:
                json.dump(record, f, indent=1)
            print(
                f'seed {seed}, {threads} thread(s): {METRIC} '
                f'{record["map"]:.4f} (training {record["train_s"]} s)',
                flush=True)
    records = []
    for path in sorted(glob.glob(osp.join(args.out_dir, 'seed*_t*.json'))):
        with open(path) as f:
            records.append(json.load(f))
    print(table(records, args.stated, args.band))


if __name__ == '__main__':
    main()
