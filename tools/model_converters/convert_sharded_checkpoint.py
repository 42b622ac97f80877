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
from stmixer_mm.cli.convert_sharded_checkpoint import main

if __name__ == '__main__':
    main()
