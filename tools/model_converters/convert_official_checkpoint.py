r"""Convert an official STMixer checkpoint (github MCG-NJU/STMixer) into an
mmengine checkpoint of stmixer_mm::

    python tools/model_converters/convert_official_checkpoint.py \
        SRC DST [--config CONFIG] [--label-map FILE]

Strict (nothing written unless the weights fit; unknown keys fail);
``--label-map`` / ``--to-classes``: docs/en/finetune.md. Details:
docs/en/useful_tools.md; mapping: ``stmixer_mm/converters/official.py``.
"""
from stmixer_mm.apps.cli.convert_official_checkpoint import main

if __name__ == '__main__':
    main()
