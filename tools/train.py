"""Train an STMixer model with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]

CONFIG: a file, ``stmixer_mm::<folder>/<config>.py`` or a model name of
``model-index.yml``. Flags as mmaction2's / mmdet's ``tools/train.py``; the
end-of-run summary, the checkpoint checks and distributed runs:
docs/en/train_test.md."""
from stmixer_mm.apps.cli.train import main

if __name__ == '__main__':
    main()
