"""``tools/model_converters/convert_sharded_checkpoint.py``: sharded <->
full checkpoints of sharded training."""
import argparse

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
        type=int,
        default=1,
        help='with --to-sharded: ranks to write extra_rank{i}.pth for')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.to_sharded:
            full_to_sharded(args.src, args.dst, world_size=args.world_size)
        else:
            ckpt = sharded_to_full(args.src, args.dst)
            print(f"{len(ckpt['state_dict'])} model tensors, meta "
                  f"{ {k: ckpt['meta'].get(k) for k in ('epoch', 'iter')} }")
    except (FileNotFoundError, KeyError, CheckpointFileError) as err:
        raise SystemExit(f'error: {err}') from err
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
