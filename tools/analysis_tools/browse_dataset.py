"""Look at a data set as the model gets it: keyframes with their ground-truth
boxes and action labels after the config's pipeline (resize, flip, ...).

    python tools/analysis_tools/browse_dataset.py CONFIG [--phase val]

See :mod:`stmixer_mm.apps.dataset_doctor.browser`."""
import argparse
from typing import List, Optional, Sequence

from stmixer_mm.apis.config_files import ConfigSettingError
from stmixer_mm.apis.output_files import prepare_out_dir
from stmixer_mm.apps.cli import CONFIG_HELP, add_cfg_options, config_or_exit
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.dataset_doctor.browser import browse
from stmixer_mm.apps.preflight import check_config


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(
        description='Draw the ground truth of a data set after its pipeline')
    p.add_argument('config', help=CONFIG_HELP)
    p.add_argument(
        '--phase',
        default='train',
        choices=['train', 'val', 'test'],
        help='which dataloader\'s data set (and pipeline)')
    p.add_argument(
        '--output-dir',
        default=None,
        help='write the images here (default: nothing written, use --show)')
    p.add_argument(
        '--max-samples', type=int, default=20, help='samples to draw')
    p.add_argument(
        '--interval', type=int, default=1, help='draw every n-th sample')
    p.add_argument('--show', action='store_true', help='show in a window')
    p.add_argument(
        '--show-interval', type=float, default=1, help='seconds per image')
    add_cfg_options(p)
    args = p.parse_args(argv)
    if args.output_dir is None and not args.show:
        p.error('nothing to do: give --output-dir and/or --show')
    if args.max_samples < 1 or args.interval < 1:
        p.error('--max-samples and --interval must be >= 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    args = parse_args(argv)
    try:  # before the data set is built
        if args.output_dir is not None:
            prepare_out_dir(args.output_dir, create=False, flag='--output-dir')
    except OSError as e:
        raise SystemExit(command_error(e)) from None
    cfg = config_or_exit(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    try:  # its settings, named by their config path
        check_config(
            cfg, sections=(f'{args.phase}_dataloader', ), consistency=False)
    except ConfigSettingError as e:
        raise SystemExit(command_error(f'{args.config}: {e}')) from None
    try:
        return browse(cfg, args.phase, args.output_dir, args.max_samples,
                      args.interval, args.show, args.show_interval)
    except (OSError, ValueError, KeyError) as e:  # the data set's files,
        raise SystemExit(  # named by its refusal; an empty data set
            command_error(
                e.args[0] if isinstance(e, KeyError) else e)) from None


if __name__ == '__main__':
    main()
