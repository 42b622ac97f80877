"""Test (evaluate) an STMixer checkpoint with mmengine's Runner.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump FILE.pkl]
        [--show] [--show-dir DIR] [--interval N] [--wait-time S]
        [--no-picture] [--non-strict] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

At the end a summary lists the metrics, the work dir and log, the
``--dump`` / ``--show-dir`` outputs and a picture of some test keyframes,
ground truth beside predictions
(``<work_dir>/<timestamp>/test_predictions.png``, drawn as
``tools/analysis_tools/visualize_results.py`` draws its grid;
``--no-picture`` skips it; a dataset that cannot be drawn, not AVA-format
frames or without ground truth, gets one line saying why).

``--show`` / ``--show-dir`` draw every ``--interval``-th test sample
(keyframe, ground truth beside predictions) with
``ActionDetVisualizationHook`` as in mmdet: ``--show-dir`` is relative to
``<work_dir>/<timestamp>/``.

The checkpoint must fit the model of the config: missing, unexpected or
shape-mismatched weights stop the tool (exit code 1) with the list of keys
before anything is evaluated (mmengine alone would load the matching part
and report the mAP of a partly random model). ``--non-strict`` loads the
matching part anyway and logs the lists.

The checkpoint's class names (``meta.dataset_meta.classes``, written by
every ``tools/train.py`` run, docs/en/finetune.md) are compared with the
test dataset's: a checkpoint whose named classes differ from the dataset's
in the same columns stops the tool (exit code 1) listing the columns
(``--non-strict``: a warning); when they agree the log lists them.

CHECKPOINT may also be a sharded checkpoint folder (``epoch_K.pth/`` of
``strategy.state_dict_cfg='sharded'``): its model weights and meta are
merged (safely, ``sharded_to_full``) into a temporary full file that is
tested and then removed; ``tools/model_converters/
convert_sharded_checkpoint.py`` makes a lasting one.
"""
from stmixer_mm.cli.test import main

if __name__ == '__main__':
    main()
