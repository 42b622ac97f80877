"""Convert an official STMixer checkpoint (github MCG-NJU/STMixer) into an
mmengine checkpoint of stmixer_mm::

    python tools/model_converters/convert_official_checkpoint.py \
        SRC DST [--config CONFIG] [--label-map FILE]
        [--to-classes LABEL_MAP [--seed 0]]
        [--backbone {auto,vit,slowfast,slowonly}] [--cfg-options k=v ...]

SRC is the official ``.pth`` (its ``model`` entry; a ``state_dict`` entry
takes precedence, as everywhere in stmixer_mm; or a bare state dict; with or
without the DDP prefix ``module.``). DST gets
``{'meta': {...}, 'state_dict': {...}}``, which ``tools/test.py CONFIG DST``
and mmengine's ``load_checkpoint`` read.

With ``--config`` the detector is built from the config and the converted
weights are checked against it: any missing key, unexpected key or shape
mismatch is printed and the tool exits with status 1 without writing DST.
Official keys that the converter does not know always make it fail.
The key mapping is documented in ``stmixer_mm/converters/official.py``
(head, neck) and ``stmixer_mm/converters/common.py`` (backbones).

Class names: ``--label-map FILE`` (the label map the official model was
trained with, e.g. AVA v2.2's ``ava_action_list_v2.2_for_activitynet_2019
.pbtxt``; AVA ``.pbtxt`` or ACT ``.pkl``) writes them into DST's
``meta.dataset_meta.classes`` (one entry per action column, ``classes[i]``
naming column ``i + 1``, ``None`` for an id the label map does not list),
where the demo, the inference API, ``tools/test.py``, the ONNX export and
``load_from_classes='by_name'`` read them.

``--to-classes LABEL_MAP`` (needs ``--config`` of the target model, with
its ``num_actions``, and ``--label-map``) moves the action classifiers of
every decoder stage onto LABEL_MAP's classes by name: rows of classes the
official model knows are copied, the others initialised as the model's own
``init_weights`` does with ``--seed``; every other key must fit the
config's model exactly. DST then names LABEL_MAP's classes (the offline
form of ``load_from_classes='by_name'``, docs/en/finetune.md).

SRC is read safely (``torch.load(weights_only=True)``) after a check that
the file is complete: a truncated or corrupt file stops with a message that
says so; a complete file that needs full unpickling stops with a hint to
``--trust-pickle``. For PySlowFast Kinetics weights (the backbone
initialisation of the CNN configs) use
``tools/model_converters/convert_kinetics_checkpoint.py``.
"""
from stmixer_mm.cli.convert_official_checkpoint import main

if __name__ == '__main__':
    main()
