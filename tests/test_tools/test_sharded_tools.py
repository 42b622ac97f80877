"""The tools and sharded training (issue 35): ``tools/test.py CONFIG
SHARDED_FOLDER`` tests a sharded checkpoint folder as the full checkpoint
it was made from (same predictions), a truncated shard stops it with the
shard file's name; ``python tools/train.py FSDP_CONFIG`` without a launcher
stops at once with the torchrun command."""
import torch

from stmixer_mm.engine import full_to_sharded
from stmixer_mm.utils.checkpoint_loading import load_pickle


def _dump(tools, checkpoint, out, check=True):
    dump = out / 'preds.pkl'
    proc = tools.python_tool(
        'test.py',
        tools.TINY_CFG,
        str(checkpoint),
        '--work-dir',
        str(out),
        '--dump',
        str(dump),
        check=check)
    return proc, dump


def test_sharded_folder_tests_as_its_full_checkpoint(tools, random_checkpoint,
                                                     tmp_path):
    folder = tmp_path / 'epoch_1.pth'
    full_to_sharded(random_checkpoint, str(folder))
    _, full_dump = _dump(tools, random_checkpoint, tmp_path / 'full')
    proc, sharded_dump = _dump(tools, folder, tmp_path / 'sharded')
    assert 'is a sharded checkpoint' in proc.stdout
    # the dumps of tools/test.py go through the 'tensors' allow-list
    full = load_pickle(str(full_dump), 'tensors')
    sharded = load_pickle(str(sharded_dump), 'tensors')
    assert len(full) == len(sharded) == 4
    for a, b in zip(full, sharded):
        for key in ('scores', 'bboxes'):
            assert torch.equal(
                torch.as_tensor(a['pred_instances'][key]),
                torch.as_tensor(b['pred_instances'][key]))

    shard = folder / '__0_0.distcp'
    shard.write_bytes(shard.read_bytes()[:1000])
    proc, _ = _dump(tools, folder, tmp_path / 'trunc', check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1
    assert str(shard) in last and 'truncated' in last, last


def test_train_tool_refuses_a_sharded_config_without_a_launcher(
        tools, tmp_path):
    import os.path as osp
    config = osp.join('tests', 'data', 'configs',
                      'tiny_stmixer_vit_tiny-ava.py')
    proc = tools.python_tool(
        'train.py', config, '--work-dir', str(tmp_path), check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1
    assert last.startswith(f'train.py: error: {config}: '
                           "strategy.type='ShardedStrategy'"), last
    assert f'bash tools/dist_train.sh {config} NPROC' in last
    assert 'Epoch(train)' not in proc.stdout + proc.stderr
