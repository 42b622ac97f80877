r"""Convert an official STMixer checkpoint (github MCG-NJU/STMixer) into an
mmengine checkpoint of stmixer_mm::

    python tools/model_converters/convert_official_checkpoint.py \
        SRC DST [--config CONFIG] [--label-map FILE]
        [--to-classes LABEL_MAP [--seed 0]]
        [--backbone {auto,vit,slowfast,slowonly}] [--cfg-options k=v ...]

With ``--config`` the weights must fit the detector exactly, else nothing is
written; unknown official keys always fail. ``--label-map`` writes the class
names into ``meta.dataset_meta.classes``; ``--to-classes`` moves the action
classifiers onto another label map by name (docs/en/finetune.md). Details:
docs/en/useful_tools.md; key mapping in ``stmixer_mm/converters/official.py``
and ``common.py``.
"""
from stmixer_mm.cli.convert_official_checkpoint import main

if __name__ == '__main__':
    main()
