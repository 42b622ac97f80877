"""Export an STMixer detector to ONNX for a fixed clip size.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx \
        --shape T H W [--batch-size 1] [--opset 17] \
        [--exporter {torchscript,dynamo}] [--verify] [--atol 1e-4] \
        [--threads N] [--seed 0] [--keyframe-only] [--label-map FILE] \
        [--cfg-options k=v ...]

The graph (``stmixer_mm.deployment``) takes a normalised clip ``[B, 3, T,
H, W]`` (``(frames - mean) / std`` of the config's data preprocessor, RGB)
and returns the raw outputs of the last decoder stage: ``person_logits [B,
N, K]``, ``action_logits [B, N, A]`` and ``bboxes [B, N, 4]`` (xyxy pixels
of the ``H x W`` input); the padding to multiples of 32 happens inside.
``stmixer_mm.deployment.postprocess`` turns them into ``predict``'s AVA
detections with numpy; the settings it needs are stored in the file's
metadata (``stmixer_mm.deployment.read_export_meta``).

The sampler is exported with ``impl='reference'`` (``GridSample``; opset >=
16) whatever the config says; the weights are the same for every path.

The graph is the keyframe detector (``STMixer`` on one clip). A model
that predicts otherwise is refused, naming its type: e.g. the
``STMixerTracker`` of ``projects/track_queries`` carries its track queries
from keyframe to keyframe, which the graph has no input for.
``--keyframe-only`` exports its keyframe detector anyway, with a warning
(detections without track ids, not the tracker's; the metadata says
``keyframe_only``).

``stmixer_mm.deployment.postprocess`` keeps only the people above the
threshold by default (``num_fallback=0``, as ``init_detector`` / the demo);
``fallback_queries=True`` keeps the config's ``num_fallback`` (stored in
the metadata), as ``tools/test.py`` evaluates.

The names of the action columns are stored in the metadata as ``classes``
(``num_actions`` entries, ``classes[i]`` naming score column ``i + 1``,
``None`` for an id the label map does not list), found as the demo finds
them (:func:`~stmixer_mm.datasets.class_names.class_names`): ``--label-map``,
else the config's test dataset, else the checkpoint's
``meta.dataset_meta.classes``; ``stmixer_mm.deployment.export_class_names``
reads them back. Without any of them the export is refused (exit 1)
unless ``--no-class-names`` (then ``classes`` is null).

``--verify`` runs ONNX Runtime and the PyTorch model as configured on the
same random clips and exits with status 1 when person / action
probabilities or normalised boxes differ by more than ``--atol``, or the
post-processed detections differ from ``predict``'s.
"""
import sys

from stmixer_mm.cli.export_onnx import main

if __name__ == '__main__':
    sys.exit(main())
