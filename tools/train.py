"""Train an STMixer model with mmengine's Runner.

Same flags and behaviour as ``tools/train.py`` of mmaction2 / mmdet::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

Distributed (also on CPU, through gloo): ``bash tools/dist_train.sh CONFIG N``.

When training ends a summary lists the work dir, the checkpoint to use
(the best one of ``CheckpointHook(save_best=...)``, else the last), the
log file, the metrics of the last validation and the next commands
(``tools/test.py``, ``tools/demo.py``, ``tools/deployment/export_onnx.py``
with this config and checkpoint).

Checkpoints are checked before their weights are copied (mmengine loads
them non-strictly):

* ``load_from`` (fine-tuning): at least ``load_from_min_loaded`` (a config
  key, default 0.5) of the model's values must come from the checkpoint
  (keys of the model with the model's shape); the keys that do not load
  are logged as a warning. A checkpoint of another architecture stops the
  run with the counts and the keys; ``--cfg-options
  load_from_min_loaded=0`` accepts any checkpoint.
* ``--resume``: the checkpoint must hold a training state and the very
  model of the config (every key, every shape); otherwise the run stops
  naming the mismatched parameters (e.g. a config with another number of
  classes).
"""
from stmixer_mm.cli.train import main

if __name__ == '__main__':
    main()
