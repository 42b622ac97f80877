"""``GraphedTrainingLogHook`` (in the default runtime's ``custom_hooks``):
``tools/train.py`` logs how the training steps of ``model.graph_train_cfg``
ran after every epoch and at the end of the run."""
import re

from stmixer_mm.testing import TINY_CFG, python_tool, repo_path

#: the compiled step on the CPU (AOTAutograd with its default partitioner,
#: eager kernels), every batch padded to one shape
OPTIONS = ('model.graph_train_cfg.backend=aot_eager_default_partitioner',
           'model.graph_train_cfg.mode=default',
           'model.graph_train_cfg.on_cpu=True',
           'model.data_preprocessor.train_pad_shapes=[(96,96)]')


def test_train_logs_the_replay_counts_each_epoch_and_at_the_end(tmp_path):
    """2 epochs x 2 iterations, one batch shape: the first step eager (first
    batch of its shape), the three others compiled, counted in the log
    after each epoch and at the end, with no warning."""
    proc = python_tool('train.py', repo_path(TINY_CFG), '--work-dir',
                       str(tmp_path), '--cfg-options', *OPTIONS)
    log = proc.stdout + proc.stderr
    lines = re.findall(r'(epoch \d|end of the run): graph_train_cfg: (.*)',
                       log)
    assert [when
            for when, _ in lines] == ['epoch 1', 'epoch 2',
                                      'end of the run'], log[-3000:]
    assert lines[0][1].startswith(
        '0 of 2 training steps replayed, 1 compiled without a CUDA-graph '
        'replay, 1 eager (1 first batch of a shape); 1 shapes recorded, 0 '
        'CUDA-graph skips'), lines[0]
    assert lines[1][1].startswith('0 of 4 training steps replayed, 3 '
                                  'compiled'), lines[1]
    assert lines[2][1] == lines[1][1]
    assert 'no training step was replayed' not in log
    assert 'beyond one per batch shape' not in log
