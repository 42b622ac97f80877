"""Print the whole config after inheritance and overrides.

    python tools/misc/print_config.py CONFIG [--save-path FILE.py]
    mim run stmixer_mm print_config CONFIG

As mmdet's ``print_config``; the ``custom_imports`` are imported, so a wrong
plugin import fails here rather than at training time."""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

from stmixer_mm.apis.output_files import prepare_out_dir
from stmixer_mm.apps.cli import CONFIG_HELP, add_cfg_options, config_or_exit
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.output_files import check_output_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Print the whole config')
    parser.add_argument('config', help=CONFIG_HELP)
    parser.add_argument('--save-path', help='also save the config (.py)')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def main(argv=None) -> Config:
    args = parse_args(argv)
    cfg = config_or_exit(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    print(f'Config:\n{cfg.pretty_text}')
    if args.save_path is not None:
        if not args.save_path.endswith('.py'):
            raise ValueError(f'--save-path must end with .py, got '
                             f'{args.save_path}')
        save = osp.abspath(args.save_path)
        try:
            check_output_file(save, '--save-path')
            prepare_out_dir(osp.dirname(save), flag='--save-path')
        except OSError as e:
            raise SystemExit(command_error(e)) from None
        cfg.dump(save)
        print(f'Config saved to {save}')
    return cfg


if __name__ == '__main__':
    main()
