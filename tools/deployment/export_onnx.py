r"""Export an STMixer detector to ONNX for a fixed clip size.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx \
        --shape T H W [--batch-size 1] [--opset 17] \
        [--exporter {torchscript,dynamo}] [--verify] [--atol 1e-4] \
        [--threads N] [--seed 0] [--keyframe-only] [--label-map FILE] \
        [--no-class-names] [--cfg-options k=v ...]

Details: docs/en/deployment.md; class names: docs/en/finetune.md.
"""
import sys

from stmixer_mm.cli.export_onnx import main

if __name__ == '__main__':
    sys.exit(main())
