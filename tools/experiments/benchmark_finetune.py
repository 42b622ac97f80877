r"""Fine-tuning onto other classes against training from scratch: mAP
curves of the tube quick start (docs/en/finetune.md)::

    OMP_NUM_THREADS=1 python tools/experiments/benchmark_finetune.py \
        --work-dir work_dirs/benchmark_finetune | tee finetune_curve.txt
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys

from stmixer_mm.apps.benchmarks.experiments import experiment_env, run_logged

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AVA_CFG = osp.join(REPO, 'configs', 'quickstart',
                   'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py')
TUBE_CFG = osp.join(REPO, 'configs', 'quickstart',
                    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')
FRAME_KEY = 'mAP/frameAP@0.5'
VIDEO_KEY = 'mAP/videoAP@0.5'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/benchmark_finetune')
    parser.add_argument(
        '--ava-checkpoint',
        help='an AVA quick-start checkpoint (with meta.dataset_meta.'
        'classes) to fine-tune from; default: train one')
    parser.add_argument('--ava-train-videos', type=int, default=24)
    parser.add_argument('--ava-val-videos', type=int, default=4)
    parser.add_argument('--ava-epochs', type=int, default=12)
    parser.add_argument('--tube-train-videos', type=int, default=64)
    parser.add_argument('--tube-val-videos', type=int, default=16)
    parser.add_argument('--tube-epochs', type=int, default=12)
    parser.add_argument(
        '--val-interval', type=int, default=1, help='epochs between evals')
    parser.add_argument(
        '--runs',
        nargs='+',
        choices=('scratch', 'finetune'),
        default=('scratch', 'finetune'),
        help='train only these tube runs (e.g. two invocations side by '
        'side); the curves are printed for the runs that have evaluations')
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='train nothing: print the curves of what the work dir holds '
        '(a run stopped early is marked so)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1)
    return parser.parse_args(argv)


def _scalars(work_dir):
    """Training iterations per epoch and ``{epoch: {metric: value}}``."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise SystemExit(f'{work_dir}: no */vis_data/scalars.json')
    evals, last_iter, last_epoch = {}, 0, 0
    with open(files[-1]) as f:
        for line in f:
            rec = json.loads(line)
            if FRAME_KEY in rec:
                evals[int(rec['step'])] = rec
            elif 'iter' in rec and 'epoch' in rec:
                last_iter = max(last_iter, int(rec['iter']))
                last_epoch = max(last_epoch, int(rec['epoch']))
    return evals, last_iter, last_epoch


def _first_reaching(curve, target):
    for it, value in curve:
        if value >= target:
            return it
    return None


def main(argv=None):
    args = parse_args(argv)
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    env = experiment_env(args.threads, REPO)
    py = sys.executable
    print(f'scale: AVA set {args.ava_train_videos} train / '
          f'{args.ava_val_videos} val videos (generator defaults otherwise), '
          f'{args.ava_epochs} epochs; tube set {args.tube_train_videos} '
          f'train / {args.tube_val_videos} test videos, {args.tube_epochs} '
          f'epochs, evaluated every {args.val_interval}; seed {args.seed}, '
          f'{args.threads} thread(s)')

    ava_data = osp.join(work, 'data', 'synthetic_ava')
    tube_data = osp.join(work, 'data', 'synthetic_tubes')
    if not osp.isdir(ava_data) and not args.ava_checkpoint:
        run_logged([
            py,
            osp.join(REPO, 'tools/data/generate_synthetic_ava.py'),
            '--out-dir', ava_data, '--num-train-videos',
            str(args.ava_train_videos), '--num-val-videos',
            str(args.ava_val_videos), '--no-demo'
        ], work, env, osp.join(work, 'gen_ava.log'))
    if not osp.isdir(tube_data):
        run_logged([
            py,
            osp.join(REPO, 'tools/data/generate_synthetic_tubes.py'),
            '--out-dir', tube_data, '--num-train-videos',
            str(args.tube_train_videos), '--num-val-videos',
            str(args.tube_val_videos), '--no-demo'
        ], work, env, osp.join(work, 'gen_tubes.log'))

    seed = ['--cfg-options', f'randomness.seed={args.seed}']
    ava_ckpt = args.ava_checkpoint
    if ava_ckpt is None:
        ava_dir = osp.join(work, 'ava')
        ava_ckpt = osp.join(ava_dir, f'epoch_{args.ava_epochs}.pth')
        if not osp.isfile(ava_ckpt):
            secs = run_logged([
                py,
                osp.join(REPO, 'tools/train.py'), AVA_CFG, '--work-dir',
                ava_dir, *seed, f'train_cfg.max_epochs={args.ava_epochs}',
                f'train_cfg.val_begin={args.ava_epochs + 1}',
                'default_hooks.checkpoint.max_keep_ckpts=1'
            ], work, env, osp.join(work, 'ava.log'))
            print(f'AVA pre-training: {secs / 60:.1f} min')
    ava_ckpt = osp.abspath(ava_ckpt)

    epochs = args.tube_epochs
    schedule = [
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_begin=1',
        f'train_cfg.val_interval={args.val_interval}',
        f'param_scheduler.1.end={epochs}',
        f'param_scheduler.1.milestones=[{max(1, epochs - epochs // 6)}]',
        'default_hooks.checkpoint.max_keep_ckpts=1'
    ]
    runs = {}
    for name, extra in (('scratch', []), ('finetune', [
            f'load_from={ava_ckpt}', 'load_from_classes=by_name', *([
                'load_from_label_map=' +
                osp.join(ava_data, 'annotations', 'label_map.pbtxt')
            ] if args.ava_checkpoint is None else [])
    ])):
        run_dir = osp.join(work, name)
        done = osp.join(run_dir, 'done')
        if not osp.isfile(done) and name in args.runs and \
                not args.report_only:
            secs = run_logged([
                py,
                osp.join(REPO, 'tools/train.py'), TUBE_CFG, '--work-dir',
                run_dir, *seed, *schedule, *extra
            ], work, env, osp.join(work, f'{name}.log'))
            with open(done, 'w') as f:
                f.write(f'{secs:.0f}\n')
        secs = float('nan')
        if osp.isfile(done):
            with open(done) as f:
                secs = float(f.read())
        elif not glob.glob(osp.join(run_dir, '*', 'vis_data')):
            continue
        else:
            print(f'{name}: not finished: its evaluations so far')
        evals, last_iter, last_epoch = _scalars(run_dir)
        if not evals:
            continue
        per_epoch = last_iter // max(last_epoch, 1)
        runs[name] = dict(
            secs=secs,
            frame=[(e * per_epoch, evals[e][FRAME_KEY])
                   for e in sorted(evals)],
            video=[(e * per_epoch, evals[e].get(VIDEO_KEY, float('nan')))
                   for e in sorted(evals)])

    if set(runs) != {'scratch', 'finetune'}:
        for name, run in runs.items():
            print(f'{name}: ' + ', '.join(
                f'iter {it}: frame {f:.2f} video {v:.2f}'
                for (it, f), (_, v) in zip(run['frame'], run['video'])))
        return
    print('\ncurves (iterations of batch 8; mAP in percent):')
    print(f'{"iter":>6} {"scratch frame":>14} {"finetune frame":>15} '
          f'{"scratch video":>14} {"finetune video":>15}')
    iters = sorted({it for r in runs.values() for it, _ in r['frame']})
    for it in iters:
        row = [it]
        for key in ('frame', 'video'):
            for name in ('scratch', 'finetune'):
                row.append(dict(runs[name][key]).get(it, float('nan')))
        print(f'{row[0]:>6} {row[1]:>14.2f} {row[2]:>15.2f} {row[3]:>14.2f} '
              f'{row[4]:>15.2f}')
    total = runs['scratch']['frame'][-1][0]
    for key, label in (('frame', 'frame-mAP@0.5'), ('video', 'video-mAP@0.5')):
        target = runs['scratch'][key][-1][1]
        reach = _first_reaching(runs['finetune'][key], target)
        last = runs['finetune'][key][-1][0]
        verdict = (f'not within its {last} evaluated iterations'
                   if reach is None else '')
        verdict = verdict or (
            f'at iteration {reach} ({100 * reach / total:.0f}% of the '
            f'{total} iterations; target <= 50%: '
            f'{"met" if reach <= total / 2 else "NOT met"})')
        print(f'{label}: from scratch {target:.2f} after {total} '
              f'iterations; fine-tuning reaches it {verdict}; fine-tuned at '
              f'its last evaluation {runs["finetune"][key][-1][1]:.2f}')
    for name, run in runs.items():
        state = 'finished' if run['secs'] == run['secs'] else \
            'stopped early (no done file)'
        print(f'{name}: {state}, {len(run["frame"])} evaluations up to '
              f'iteration {run["frame"][-1][0]}' +
              (f', wall time {run["secs"] / 60:.1f} min' if run['secs'] ==
               run['secs'] else ''))


if __name__ == '__main__':
    main()
