"""Test (evaluate) an STMixer checkpoint with mmengine's Runner.

    python tools/test.py CONFIG CHECKPOINT [--dump FILE.pkl] [--show-dir DIR]

CONFIG: a file, ``stmixer_mm::<folder>/<config>.py`` or a model name of
``model-index.yml``. Details: docs/en/train_test.md, docs/en/finetune.md,
docs/en/bad_inputs.md."""
from stmixer_mm.apps.cli.test import main

if __name__ == '__main__':
    main()
