"""Convert between sharded and full checkpoints of sharded training::

    python tools/model_converters/convert_sharded_checkpoint.py SRC DST
        [--to-sharded [--world-size N]]

A sharded checkpoint (``strategy.state_dict_cfg='sharded'`` of the FSDP
configs) is a folder ``epoch_K.pth/`` of torch.distributed.checkpoint shard
files plus one ``extra_rank{i}.pth`` per rank. By default SRC is such a
folder and DST one ordinary mmengine checkpoint file (model ``state_dict``
with the model's own key names, ``optimizer`` keyed by parameter name,
meta, message hub, schedulers): ``tools/test.py``, ``load_from``, the plain
Runner and the ShardedStrategy's ``--resume`` take it, on any number of
GPUs. ``--to-sharded`` goes the other way (a full file -> a folder that
``--resume`` reads with sharded loading). One process, no GPU, no process
group.

The folder's ``.metadata`` and the non-tensor items of its shards are
unpickled under allow-lists (``load_pickle`` of
``stmixer_mm.utils.checkpoint_loading``); a folder asking for anything else
is refused unless listed in ``STMIXER_MM_TRUSTED_CHECKPOINTS``. A missing,
truncated or corrupt shard file is named.
"""
import argparse

from stmixer_mm.engine.sharded import full_to_sharded, sharded_to_full
from stmixer_mm.utils.checkpoint_loading import CheckpointFileError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
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
