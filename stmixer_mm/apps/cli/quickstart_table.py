r"""``tools/experiments/quickstart_table.py``: the quick start over seeds and
thread counts, the table of ``configs/quickstart/README.md``. Each run
(``tools/train.py CONFIG --seed S`` then ``tools/test.py`` of a checkout) is
a fresh interpreter with ``OMP_NUM_THREADS`` set, into
``<out-dir>/seed<S>_t<T>.json``; existing files are not rerun and a run is
claimed (``<out-dir>/.seed<S>_t<T>.claim``, a lock file naming the
invocation, :class:`~stmixer_mm.engine.WorkDirLock`) while it trains and
tests, so several invocations fill one table. A run that fails, or whose
invocation was stopped or killed, gives its claim back: its unfinished
folder becomes ``seed<S>_t<T>.failed`` and the next invocation trains it
afresh. Every argument is checked before the first claim.
Each run also counts the persons its model reports, at the config's own
thresholds, on an all-black and an all-grey (128) video of the data set's
size (:func:`dark_persons`; target 0). Empty ``--seeds --threads`` only
print the table of the runs made::

    python tools/experiments/quickstart_table.py --seeds 0 1 2 \
        --threads 1 2 --out-dir work_dirs/quickstart_table --stated 0.982
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
from typing import Optional, Tuple

import numpy as np

import stmixer_mm  # noqa: F401  (registration before the config check)
from stmixer_mm.apis import STMixerInferencer
from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apis.output_files import prepare_out_dir
from stmixer_mm.apps.benchmarks.experiments import experiment_env
from stmixer_mm.apps.command_errors import command_error, whole_number
from stmixer_mm.apps.data_gen.settings import SyntheticAVASettings
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.apps.stop_signals import (RunInterrupted, on_stop_signals,
                                          signal_name)
from stmixer_mm.apps.work_dir_lock import WorkDirLock
from stmixer_mm.utils.checks import ConfigSettingError
from . import parse_cfg_options

#: the checkout whose tools/train.py and tools/test.py are run (links
#: resolved: an editable install may link the package into site-packages)
REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.realpath(__file__)))))
DEFAULT_CFG = osp.join(REPO, 'configs', 'quickstart',
                       'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py')
METRIC = 'mAP/overall'
#: the plain videos of :func:`dark_persons`: name -> uint8 level
PLAIN_VIDEOS = dict(black=0, grey=128)
PROG = 'tools/experiments/quickstart_table.py'


def _count(minimum: int, what: str):
    """An argparse type: a whole number >= ``minimum`` (0 or 1)."""
    return lambda text: whole_number(
        text, least=minimum, why=f'; {what}', what=f' ({what})')


def _number(low: float, high: float, what: str):
    """An argparse type: a finite float in [low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'expected a number, got {text!r}') from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f'expected a number in [{low:g}, {high:g}] ({what}), got '
                f'{text}')
        return value

    return parse


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, every value checked (a bad one is a usage error
    naming it, exit code 2, before any run is claimed).

    Args:
        argv (list[str], optional): The arguments; None: ``sys.argv``.

    Returns:
        argparse.Namespace: ``config``, ``seeds``, ``threads``, ``out_dir``,
        ``stated``, ``band`` and ``cfg_options`` (the ``KEY=VALUE``
        strings, passed on to both tools) with ``cfg_options_dict`` (them
        parsed).
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CFG)
    parser.add_argument(
        '--seeds',
        type=_count(0, 'a random seed'),
        nargs='*',
        default=[0, 1, 2])
    parser.add_argument(
        '--threads',
        type=_count(1, 'OMP_NUM_THREADS of a run'),
        nargs='*',
        default=[1, 2])
    parser.add_argument('--out-dir', default='work_dirs/quickstart_table')
    parser.add_argument(
        '--stated',
        type=_number(0, 1, "the README's mAP/overall"),
        help="the README's mAP/overall")
    parser.add_argument(
        '--band',
        type=_number(0, 1, 'a distance in mAP'),
        default=0.03,
        help='allowed distance')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='for both tools (KEY=VALUE, as tools/train.py)')
    args = parser.parse_args(argv)
    for flag in ('seeds', 'threads'):
        values = getattr(args, flag)
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            parser.error(f'--{flag}: {twice} given twice; expected each '
                         'value once')
    try:
        args.cfg_options_dict = parse_cfg_options(args.cfg_options)
    except ValueError as e:
        parser.error(str(e))
    return args


def _python(argv: list, threads: int, what: str) -> Tuple[str, float]:
    """Run ``python argv`` in the repository with the run's thread count;
    ``(its output, seconds)``, or exit naming ``what`` when it fails."""
    start = time.time()
    proc = subprocess.run(
        [sys.executable] + argv,
        cwd=REPO,
        env=experiment_env(threads, cuda=True),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.exit(f'{what} exited with {proc.returncode}:\n'
                 f'{proc.stdout[-3000:]}')
    return proc.stdout, time.time() - start


def _tool(script, args, threads):
    return _python([osp.join(REPO, 'tools', script)] + args, threads,
                   f'{script} {" ".join(args)}')


def _give_back(work: str) -> str:
    """Give back the claim of a failed run: ``work`` becomes
    ``<work>.failed`` (an older one replaced), so that the next invocation
    reruns it; returns that path."""
    failed = work + '.failed'
    if osp.isdir(failed):
        shutil.rmtree(failed)
    os.replace(work, failed)
    return failed


def dark_persons(config: str,
                 checkpoint: str,
                 cfg_options: Optional[dict] = None) -> dict:
    """The persons a trained model reports on plain videos with nobody in
    them, with :class:`~stmixer_mm.apis.STMixerInferencer`'s defaults (the
    config's ``person_threshold``, a keyframe every 8 frames).

    Args:
        config (str): The config file.
        checkpoint (str): The checkpoint.
        cfg_options (dict, optional): Overrides of the config. Defaults to
            None.

    Returns:
        dict: Per name of :data:`PLAIN_VIDEOS`, ``persons`` (their count
        over all keyframes) and ``keyframes``; the videos have the
        synthetic data set's default size, frame rate and length (12 s of
        192x128 at 16 fps).
    """
    s = SyntheticAVASettings()
    inferencer = STMixerInferencer(
        config, checkpoint, cfg_options=cfg_options, show_progress=False)
    counts = {}
    for name, level in PLAIN_VIDEOS.items():
        frames = np.full((s.fps * s.seconds_per_video, s.height, s.width, 3),
                         level, np.uint8)
        pred = inferencer(frames, fps=s.fps)['predictions'][0]
        counts[name] = dict(
            persons=sum(len(k['persons']) for k in pred['keyframes']),
            keyframes=len(pred['keyframes']))
    return counts


def _dark_persons_in_fresh_interpreter(args, last: str, threads: int):
    """:func:`dark_persons` of ``last`` in a fresh interpreter with the
    run's thread count."""
    code = (
        'import json, sys; from stmixer_mm.apps.cli.quickstart_table import '
        'dark_persons; print("DARK " + json.dumps(dark_persons(sys.argv[1]'
        ', sys.argv[2], json.loads(sys.argv[3]))))')
    out, seconds = _python(
        ['-c', code, args.config, last,
         json.dumps(args.cfg_options_dict)], threads,
        f'counting the persons on plain videos with {last}')
    found = re.findall(r'^DARK (.*)$', out, re.M)
    if not found:
        sys.exit(f'counting the persons on plain videos with {last} printed '
                 f'no count:\n{out[-3000:]}')
    return json.loads(found[-1]), seconds


def run_one(args, seed: int, threads: int) -> Optional[dict]:
    """Claim one seed at one thread count, train and test it, and write its
    record ``<out-dir>/seed<S>_t<T>.json``; returns the record, or None when
    a live invocation holds the claim or wrote the record meanwhile. A
    folder with the last checkpoint is only tested; a folder without it
    (its training failed, or its invocation was stopped or killed) is
    given back and trained afresh.

    Args:
        args (argparse.Namespace): :func:`parse_args`'s, with ``epochs``.
        seed (int): The training seed.
        threads (int): ``OMP_NUM_THREADS`` of the run.

    Returns:
        dict | None: The record written, or None.
    """
    name = f'seed{seed}_t{threads}'
    work = osp.join(args.out_dir, name)
    claim = WorkDirLock(args.out_dir)  # a killed invocation's: taken over
    claim.path = osp.join(args.out_dir, f'.{name}.claim')
    try:
        claim.acquire()
    except BlockingIOError:  # another live invocation
        print(f'{work}: another invocation is running it (it holds '
              f'{claim.path}); its row appears once it has written {work}'
              '.json')
        return None
    except OSError as e:  # not a claim file: not another invocation
        sys.exit(command_error(e, PROG))
    try:
        if osp.exists(work + '.json'):
            return None  # written while this invocation waited
        record = _train_and_test(args, seed, threads, work)
        with open(work + '.json', 'x') as f:
            json.dump(record, f, indent=1)
        return record
    finally:
        claim.release()


def _train_and_test(args, seed: int, threads: int, work: str) -> dict:
    """The record of the claimed run ``work``; a training that fails (or
    is interrupted) gives its folder back."""
    options = ['--cfg-options'] + args.cfg_options if args.cfg_options else []
    last = osp.join(work, f'epoch_{args.epochs}.pth')
    train_s = None
    if not osp.exists(last):
        if osp.lexists(work):
            print(f'{work}: unfinished (no {osp.basename(last)}: its '
                  'training failed, or its invocation was stopped or '
                  f'killed); now {_give_back(work)}, trained afresh')
        os.makedirs(work)
        try:
            _, train_s = _tool(
                'train.py',
                [args.config, '--work-dir', work, '--seed',
                 str(seed)] + options, threads)
            if not osp.exists(last):
                sys.exit(f'{work}: tools/train.py ended without {last}')
        except BaseException:
            print(
                f'{work}: the training failed; its folder is now '
                f'{_give_back(work)} (a rerun starts it afresh)',
                file=sys.stderr)
            raise
    out, test_s = _tool(
        'test.py', [args.config, last, '--work-dir',
                    osp.join(work, 'test')] + options, threads)
    found = re.findall(re.escape(METRIC) + r': ([0-9.]+|nan)', out)
    if not found:
        sys.exit(f'no {METRIC} in the output of tools/test.py:\n{out[-2000:]}')
    dark, _ = _dark_persons_in_fresh_interpreter(args, last, threads)
    return dict(
        seed=seed,
        threads=threads,
        map=float(found[-1]),
        train_s=None if train_s is None else round(train_s),
        test_s=round(test_s),
        plain_video_persons=dark,
        checkpoint=last,
        config=args.config,
        cfg_options=args.cfg_options)


def table(records, stated=None, band=0.03) -> str:
    """The markdown table of ``records`` (one row per run, then the mean
    and range; with ``stated`` each run's distance from it)."""
    names = list(PLAIN_VIDEOS)
    lines = [
        '| seed | threads | mAP/overall | distance from stated | ' +
        ' | '.join(f'persons on the {n} video'
                   for n in names) + ' | training s |',
        '| --- ' * (5 + len(names)) + '|'
    ]

    def persons(r, name):  # runs recorded before the column: '-'
        got = r.get('plain_video_persons', {}).get(name)
        return '-' if got is None else \
            f'{got["persons"]} ({got["keyframes"]} keyframes)'

    for r in sorted(records, key=lambda r: (r['threads'], r['seed'])):
        dist = '-' if stated is None else f'{r["map"] - stated:+.3f}'
        lines.append(f'| {r["seed"]} | {r["threads"]} | {r["map"]:.3f} | '
                     f'{dist} | ' + ' | '.join(persons(r, n) for n in names) +
                     f' | {r["train_s"]} |')
    maps = [r['map'] for r in records]
    if maps:
        mean = sum(maps) / len(maps)
        lines.append(f'| mean ({len(maps)} runs) | | {mean:.3f} '
                     f'[{min(maps):.3f}, {max(maps):.3f}] | |' +
                     ' |' * len(names) + ' |')
        if stated is not None:
            inside = sum(abs(m - stated) <= band + 1e-9 for m in maps)
            lines.append(f'\n{inside} of {len(maps)} runs within '
                         f'+-{band} of {stated}')
    return '\n'.join(lines)


def _stop(signum):
    raise RunInterrupted(signum, f'stopped by {signal_name(signum)}')


def main(argv=None) -> None:
    """Train and test the quick-start config for each thread count and
    seed (a JSON record each in ``--out-dir``; a record that exists is
    not run again), then print the table of the records there.

    Args:
        argv (list[str], optional): The command line (default:
            ``sys.argv[1:]``).

    Raises:
        SystemExit: Before any run is claimed, naming the config, the
            setting or the folder: a config the preflight refuses (with the
            ``--cfg-options``), one without ``train_cfg.max_epochs``, a
            checkout without ``tools/train.py`` / ``tools/test.py``, an out
            dir that cannot be written.
    """
    args = parse_args(argv)
    # the config with the --cfg-options checked as tools/train.py checks it,
    # the out dir and the checkout's tools, before any run is claimed
    try:
        cfg = load_config(args.config)
    except (ConfigSettingError, FileNotFoundError) as e:
        raise SystemExit(command_error(e, PROG)) from None
    try:
        cfg.merge_from_dict(args.cfg_options_dict)
        check_config(cfg)
    except ConfigSettingError as e:
        raise SystemExit(command_error(f'{args.config}: {e}', PROG)) from None
    # a run's last checkpoint is epoch_<N>.pth
    args.epochs = (cfg.get('train_cfg') or {}).get('max_epochs')
    if args.epochs is None:
        raise SystemExit(
            command_error(
                f'{args.config}: no train_cfg.max_epochs; expected an '
                'epoch-based training (the runs are tested on their '
                'epoch_<max_epochs>.pth)', PROG))
    for tool in ('train.py', 'test.py'):
        if not osp.isfile(osp.join(REPO, 'tools', tool)):
            raise SystemExit(
                command_error(
                    f'no tools/{tool} in {REPO}: the table runs the tools of '
                    'a checkout', PROG))
    try:
        prepare_out_dir(args.out_dir, create=False)
    except OSError as e:
        raise SystemExit(command_error(e, PROG)) from None
    os.makedirs(args.out_dir, exist_ok=True)
    missing = []
    try:
        with on_stop_signals(_stop):  # SIGTERM gives the claim back too
            for threads in args.threads:
                for seed in args.seeds:
                    path = osp.join(args.out_dir,
                                    f'seed{seed}_t{threads}.json')
                    record = None if osp.exists(path) else run_one(
                        args, seed, threads)
                    if record is not None:
                        print(
                            f'seed {seed}, {threads} thread(s): {METRIC} '
                            f'{record["map"]:.4f} (training '
                            f'{record["train_s"]} s)',
                            flush=True)
                    elif not osp.exists(path):
                        missing.append(osp.basename(path))
    except RunInterrupted as e:
        print(
            f'{PROG}: {e}; the claim of the run it was making is released',
            file=sys.stderr)
        sys.exit(e.exit_code)
    records = []
    for path in sorted(glob.glob(osp.join(args.out_dir, 'seed*_t*.json'))):
        with open(path) as f:
            records.append(json.load(f))
    print(table(records, args.stated, args.band))
    if missing:
        print(f'not in the table: {", ".join(missing)} (other invocations '
              'are running them: run this again once they have ended)')


if __name__ == '__main__':
    main()
