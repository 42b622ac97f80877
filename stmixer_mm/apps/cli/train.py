"""``tools/train.py``: arguments, their merging into the config and
``main(argv)`` (callable in process)."""
import argparse
import os

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.runner import find_latest_checkpoint

import stmixer_mm  # noqa: F401  (compat fixes + registration before build)
from stmixer_mm.apis.output_files import prepare_out_dir
from stmixer_mm.apps.command_errors import command_error, config_or_exit
from stmixer_mm.apps.preflight import check_config, check_optimizer_builds
# yapf: disable  (isort wraps this import; yapf would re-wrap it)
from stmixer_mm.apps.runner_utils import (adapt_cfg_to_device,
                                          add_class_consistency_hook,
                                          add_custom_hook, build_runner,
                                          check_launcher,
                                          init_dist_without_cuda,
                                          shutdown_dist)
# yapf: enable
from stmixer_mm.apps.work_dir_lock import WorkDirLock
from stmixer_mm.engine import LOAD_FROM_MIN_LOADED, CheckpointMismatchError
from stmixer_mm.utils import CheckpointFileError, type_name
from stmixer_mm.utils.checks import ConfigSettingError, is_real
from . import (CONFIG_HELP, DATA_HINT, add_cfg_options, add_launcher_args,
               merge_run_args, missing_data_file)
from .run_summary import summary_after_train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Train an STMixer detector')
    parser.add_argument('config', help=CONFIG_HELP)
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work directory (a warning says so when there is '
        'none and training starts from scratch)')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the LR by the actual / the config\'s total batch size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--diff-rank-seed',
        action='store_true',
        help='use a different seed on every rank')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic cuDNN / algorithms')
    add_cfg_options(parser)
    add_launcher_args(parser)
    return parser


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args) -> Config:
    """Fold the command-line options into the config: ``--cfg-options``
    first, then the other flags override them (as mmaction2's / mmdet's
    tools)."""
    merge_run_args(cfg, args)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        wrapper = type_name(cfg.optim_wrapper.get('type', 'OptimWrapper'))
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper or '
                             f'AmpOptimWrapper, the config has {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.resume is not None or cfg.get('resume'):
        add_custom_hook(
            cfg, type='ResumeCheckHook', source=cfg.get('load_from'))
    elif cfg.get('load_from'):
        min_loaded = cfg.get('load_from_min_loaded', LOAD_FROM_MIN_LOADED)
        if not (is_real(min_loaded) and 0 <= min_loaded <= 1):
            raise ConfigSettingError('load_from_min_loaded must be a number '
                                     f'in [0, 1], got {min_loaded!r}')
        add_custom_hook(
            cfg,
            type='LoadFromCheckHook',
            min_loaded=min_loaded,
            source=cfg.load_from)
    add_class_consistency_hook(cfg)
    if args.auto_scale_lr:
        if 'base_batch_size' not in (cfg.get('auto_scale_lr') or {}):
            raise argparse.ArgumentTypeError(
                f'--auto-scale-lr: the config {args.config} has no '
                '`auto_scale_lr.base_batch_size` (the total batch size its '
                'learning rate is set for, GPUs x samples per GPU); add '
                '`auto_scale_lr = dict(enable=False, base_batch_size=N)` '
                'to it, or pass --cfg-options auto_scale_lr.base_batch_size=N')
        cfg.auto_scale_lr.enable = True
    # each flag given overrides its own entry of the config's randomness
    randomness = dict(cfg.get('randomness') or {})
    randomness.setdefault('seed', None)
    if args.seed is not None:
        randomness['seed'] = args.seed
    if args.diff_rank_seed:
        randomness['diff_rank_seed'] = True
    if args.deterministic:
        randomness['deterministic'] = True
    cfg.randomness = randomness
    return adapt_cfg_to_device(cfg)


def _is_main_process() -> bool:
    """Rank 0 of the launcher (torchrun, Slurm, MPI) or a single process:
    the one that takes the work-dir lock."""
    for key in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK'):
        if os.environ.get(key, '').strip():
            return int(os.environ[key]) == 0
    return True


def main(argv=None):
    args = parse_args(argv)
    cfg = config_or_exit(args.config)
    try:
        cfg = merge_args(cfg, args)
        check_config(cfg)
        check_optimizer_builds(cfg)  # (where --amp too is refused)
        check_launcher(cfg, args.config)
    except argparse.ArgumentTypeError as e:  # a flag the config lacks
        build_parser().error(str(e))  # exit code 2, as a bad flag
    except ConfigSettingError as e:
        raise SystemExit(command_error(f'{args.config}: {e}')) from None
    except ValueError as e:  # a flag the config cannot take (--amp)
        raise SystemExit(command_error(e)) from None
    missing = missing_data_file(
        cfg, ('train_dataloader', ) +
        (('val_dataloader', ) if cfg.get('val_cfg') else ()))
    if missing:  # before the runner prints its hooks
        raise SystemExit(command_error(missing))
    try:  # before the lock and the model: a clear error, not a traceback
        prepare_out_dir(
            cfg.work_dir,
            create=False,
            flag='--work-dir' if args.work_dir else 'work_dir (--work-dir)')
    except OSError as e:
        raise SystemExit(command_error(e)) from None
    # one run per work dir: a second one would overwrite the checkpoints
    lock = None
    if _is_main_process():
        try:
            lock = WorkDirLock(cfg.work_dir).acquire()
        except OSError as e:  # busy, or not a lock file: named
            raise SystemExit(command_error(e)) from None
    runner = None
    done = False
    try:
        init_dist_without_cuda(cfg)
        runner = build_runner(cfg)
        if args.resume == 'auto' and find_latest_checkpoint(
                cfg.work_dir) is None:
            # mmengine would log "Auto resumed from ... checkpoint None."
            runner.logger.warning(
                f'--resume: no checkpoint found in the work dir '
                f'{cfg.work_dir} (no last_checkpoint file): training starts '
                'from scratch')
        try:
            runner.train()
        except (CheckpointFileError, ConfigSettingError,
                CheckpointMismatchError) as e:
            raise SystemExit(command_error(e)) from None
        except FileNotFoundError as e:  # a data file (the message names it)
            raise SystemExit(command_error(f'{e}{DATA_HINT}')) from None
        if is_main_process():
            print(summary_after_train(runner, args.config), flush=True)
        done = True
    finally:  # the group ended before the interpreter's exit, on errors too
        shutdown_dist(runner, barrier=done)
        if lock is not None:
            lock.release()
    return runner


if __name__ == '__main__':
    main()
