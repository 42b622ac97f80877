"""Test (evaluate) an STMixer checkpoint with mmengine's Runner.

    python tools/test.py CONFIG CHECKPOINT [--dump FILE.pkl] [--show-dir DIR]

Details: docs/en/train_test.md, docs/en/finetune.md, docs/en/bad_inputs.md."""
from stmixer_mm.cli.test import main

if __name__ == '__main__':
    main()
