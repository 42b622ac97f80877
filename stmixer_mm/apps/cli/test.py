"""``tools/test.py``: arguments, their merging into the config and
``main(argv)`` (callable in process)."""
import argparse
import os
import os.path as osp
import shutil
import tempfile

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.runner import Runner

import stmixer_mm  # noqa: F401  (compat fixes + registration before build)
from stmixer_mm.apis.output_files import prepare_out_dir
from stmixer_mm.apps.command_errors import (command_error, command_name,
                                            config_or_exit)
from stmixer_mm.apps.display import display_problem
from stmixer_mm.apps.output_files import check_output_file
from stmixer_mm.apps.prediction_grid import DEFAULT_NUM_IMAGES
from stmixer_mm.apps.preflight import check_config
# yapf: disable  (isort wraps this import; yapf would re-wrap it)
from stmixer_mm.apps.runner_utils import (FormattedOnceConfig,
                                          adapt_cfg_to_device,
                                          add_class_consistency_hook,
                                          add_custom_hook,
                                          init_dist_without_cuda,
                                          quiet_known_noise, shutdown_dist,
                                          trigger_visualization_hook)
# yapf: enable
from stmixer_mm.engine import (CheckpointMismatchError, is_sharded_checkpoint,
                               sharded_to_full)
from stmixer_mm.utils import CheckpointFileError, ConfigSettingError
from . import (CONFIG_HELP, DATA_HINT, add_cfg_options, add_launcher_args,
               merge_run_args, missing_data_file)
from .commands import command
from .run_summary import PICTURE_NAME, draw_test_picture, summary_after_test


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Test an STMixer detector')
    parser.add_argument('config', help=CONFIG_HELP)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument(
        '--dump',
        type=str,
        help='also dump the raw predictions to this pickle file')
    parser.add_argument(
        '--non-strict',
        action='store_true',
        help='load a checkpoint that does not fit the model in part (the '
        'missing / unexpected / shape-mismatched keys are logged); by '
        'default such a checkpoint is an error')
    add_cfg_options(parser)
    parser.add_argument(
        '--show', action='store_true', help='show the drawings in a window')
    parser.add_argument(
        '--show-dir',
        help='write the drawings to this folder of '
        '<work_dir>/<timestamp>/ (an absolute path is used as is)')
    parser.add_argument(
        '--interval', type=int, default=1, help='draw every n-th sample')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='seconds per shown image')
    parser.add_argument(
        '--no-picture',
        dest='picture',
        action='store_false',
        help=f'do not draw <work_dir>/<timestamp>/{PICTURE_NAME} (some test '
        'keyframes, ground truth beside predictions) at the end')
    add_launcher_args(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.show:
        # without a window mmengine's Visualizer.show draws nothing
        problem = display_problem()
        if problem is not None:
            parser.error(f'--show: {problem}, so nothing would be shown; '
                         'write the drawings to files with --show-dir DIR '
                         'instead (relative to <work_dir>/<timestamp>/)')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args) -> Config:
    """Fold the command-line options into the config: ``--cfg-options``
    first, then the other flags override them (as mmaction2's / mmdet's
    tools)."""
    merge_run_args(cfg, args)
    cfg.load_from = getattr(args, 'checkpoint_file', None) or args.checkpoint
    add_class_consistency_hook(cfg)
    if args.picture:  # a few predictions for the picture of the summary
        add_custom_hook(
            cfg, type='KeepPredictionsHook', max_videos=DEFAULT_NUM_IMAGES)
    add_custom_hook(
        cfg,
        type='CheckpointCheckHook',
        strict=not args.non_strict,
        opt_out='--non-strict',
        source=args.checkpoint)
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump must be a .pkl/.pickle file, got '
                             f'{args.dump}')
        dump = dict(type='DumpResults', out_file_path=args.dump)
        evaluator = cfg.test_evaluator
        if isinstance(evaluator, (list, tuple)):
            cfg.test_evaluator = [*evaluator, dump]
        else:
            cfg.test_evaluator = [evaluator, dump]
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    return adapt_cfg_to_device(cfg)


def merge_sharded(folder: str, tmp_dir: str) -> str:
    """The model weights and meta of the sharded checkpoint ``folder`` as a
    full checkpoint file in ``tmp_dir`` (without the optimizer state)."""
    import torch

    print(f'{command_name()}: {folder} is a sharded checkpoint: merging its '
          'model weights into a temporary full checkpoint '
          f'({command("convert-sharded")} writes a lasting one)')
    path = osp.join(tmp_dir, 'merged_' + osp.basename(osp.normpath(folder)))
    torch.save(sharded_to_full(folder, with_optimizer=False), path)
    return path


def main(argv=None):
    args = parse_args(argv)
    cfg = config_or_exit(args.config)  # first (then outputs, checkpoint)
    if not is_sharded_checkpoint(args.checkpoint):
        return run(args, cfg)
    tmp_dir = tempfile.mkdtemp(prefix='stmixer_sharded_')
    try:
        try:
            args.checkpoint_file = merge_sharded(args.checkpoint, tmp_dir)
        except (CheckpointFileError, FileNotFoundError) as e:
            raise SystemExit(command_error(e)) from None
        return run(args, cfg)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def run(args, cfg: Config):
    """Test ``args.checkpoint`` (or the full file ``args.checkpoint_file``
    merged from it) with ``cfg``, the config ``args.config`` names.

    Args:
        args (argparse.Namespace): :func:`parse_args`'s.
        cfg (Config): The loaded config (the flags merged here).

    Returns:
        dict: The metrics of ``runner.test()``.

    Raises:
        SystemExit: Before the model is built, naming it: a refused setting
            of the config; an output the test could not write at its end
            (the work dir, the folder of ``--dump`` or an absolute
            ``--show-dir`` that is a file, under one, or not writable; a
            ``--dump`` that is a folder or not a ``.pkl``); a missing
            checkpoint or data file. After: a checkpoint that cannot be
            read or does not fit.
    """
    try:
        cfg = merge_args(cfg, args)
        check_config(cfg)
        prepare_out_dir(
            cfg.work_dir,
            create=False,
            flag='--work-dir' if args.work_dir else 'work_dir (--work-dir)')
        if args.dump is not None:
            check_output_file(args.dump, '--dump')
        if args.show_dir and osp.isabs(args.show_dir):
            prepare_out_dir(args.show_dir, create=False, flag='--show-dir')
    except ConfigSettingError as e:
        raise SystemExit(command_error(f'{args.config}: {e}')) from None
    except (OSError, ValueError) as e:  # an output; --dump's extension
        raise SystemExit(command_error(e)) from None
    if '://' not in args.checkpoint and not osp.exists(args.checkpoint):
        raise SystemExit(
            command_error(f'checkpoint {args.checkpoint}: no such file or '
                          'folder'))
    missing = missing_data_file(cfg, ('test_dataloader', ))
    if missing:  # before the runner prints its hooks
        raise SystemExit(command_error(missing))
    init_dist_without_cuda(cfg)
    runner = None
    done = False
    try:
        runner = quiet_known_noise(
            Runner.from_cfg(FormattedOnceConfig.of(cfg)))
        try:
            metrics = runner.test()
        except (CheckpointMismatchError, CheckpointFileError,
                ConfigSettingError) as e:
            raise SystemExit(command_error(e)) from None
        except FileNotFoundError as e:  # a data file (the message names it)
            raise SystemExit(command_error(f'{e}{DATA_HINT}')) from None
        if is_main_process():
            picture = draw_test_picture(runner) if args.picture else \
                'not drawn (--no-picture)'
            print(
                summary_after_test(args, runner, metrics, picture), flush=True)
        done = True
    finally:  # the group ended before the interpreter's exit, on errors too
        shutdown_dist(runner, barrier=done)
    return metrics


if __name__ == '__main__':
    main()
