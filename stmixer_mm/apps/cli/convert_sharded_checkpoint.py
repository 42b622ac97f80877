"""``tools/model_converters/convert_sharded_checkpoint.py``: sharded <->
full checkpoints of sharded training."""
import argparse
import os.path as osp

from stmixer_mm.apis.output_files import prepare_out_dir
from stmixer_mm.apps.command_errors import command_error, whole_number
from stmixer_mm.apps.output_files import check_output_file
from stmixer_mm.engine.sharded import full_to_sharded, sharded_to_full
from stmixer_mm.utils.checkpoint_loading import CheckpointFileError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert between sharded and full checkpoints of '
        'sharded training')
    parser.add_argument(
        'src', help='sharded folder (or full file with '
        '--to-sharded)')
    parser.add_argument(
        'dst', help='full file (or folder with '
        '--to-sharded)')
    parser.add_argument(
        '--to-sharded',
        action='store_true',
        help='convert a full checkpoint file into a sharded folder')
    parser.add_argument(
        '--world-size',
        type=whole_number,
        help='with --to-sharded: ranks to write extra_rank{i}.pth for '
        '(default 1)')
    args = parser.parse_args(argv)
    if args.world_size is not None and not args.to_sharded:
        parser.error('--world-size applies to --to-sharded only (a full '
                     'checkpoint has no ranks)')
    if args.to_sharded and osp.isdir(args.src):
        parser.error(f'SRC {args.src} is a folder; --to-sharded expects a '
                     'full checkpoint file (without --to-sharded a sharded '
                     'folder is merged into one file)')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:  # before the conversion, not a traceback after it
        if args.to_sharded:
            prepare_out_dir(args.dst, create=False, flag='DST')
        else:
            check_output_file(args.dst, 'DST')
    except OSError as err:
        raise SystemExit(command_error(err)) from None
    try:
        if args.to_sharded:
            full_to_sharded(
                args.src, args.dst, world_size=args.world_size or 1)
        else:
            ckpt = sharded_to_full(args.src, args.dst)
            print(f"{len(ckpt['state_dict'])} model tensors, meta "
                  f"{ {k: ckpt['meta'].get(k) for k in ('epoch', 'iter')} }")
    except (FileNotFoundError, KeyError, CheckpointFileError) as err:
        raise SystemExit(command_error(err)) from err
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
