r"""Export an STMixer detector to ONNX for a fixed clip size.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx \
        --shape T H W [--verify]

Details: docs/en/deployment.md; class names: docs/en/finetune.md."""
import sys

from stmixer_mm.apps.cli.export_onnx import main

if __name__ == '__main__':
    sys.exit(main())
