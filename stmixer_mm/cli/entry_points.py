"""Console commands ``stmixer-<tool>`` (setup.cfg ``console_scripts``):
``stmixer-train`` is ``python tools/train.py``, without a checkout; each
imports its module only when it runs and returns the exit status."""
import os.path as osp
import shlex
import sys

#: each tool: its console command and its script in a checkout
TOOLS = {
    'train': ('stmixer-train', 'tools/train.py'),
    'test': ('stmixer-test', 'tools/test.py'),
    'demo': ('stmixer-demo', 'tools/demo.py'),
    'import': ('stmixer-import', 'tools/data/import_annotations.py'),
    'export-onnx': ('stmixer-export-onnx', 'tools/deployment/export_onnx.py'),
    'check-dataset':
    ('stmixer-check-dataset', 'tools/analysis_tools/check_dataset.py'),
}


def command(tool: str) -> str:
    """How to run ``tool`` (a key of :data:`TOOLS`) where the user is:
    ``python <checkout>/tools/...`` when this process was started as a
    script of a checkout that holds the tool, else its console command."""
    script, path = TOOLS[tool]
    started = sys.argv[0] if sys.argv else ''
    for _, own in TOOLS.values():
        if started.replace(osp.sep, '/').endswith(own):
            root = started[:len(started) - len(own)]
            if osp.isfile(osp.join(root or '.', path)):
                return f'python {shlex.quote(root + path)}'
    return script


def _status(result) -> int:
    return result if isinstance(result,
                                int) and not isinstance(result, bool) else 0


def train() -> int:
    from stmixer_mm.cli.train import main
    return _status(main())


def test() -> int:
    from stmixer_mm.cli.test import main
    return _status(main())


def demo() -> int:
    from stmixer_mm.cli.demo import main
    return _status(main(prog='stmixer-demo'))


def import_annotations() -> int:
    from stmixer_mm.cli.import_annotations import main
    return _status(main())


def export_onnx() -> int:
    from stmixer_mm.cli.export_onnx import main
    return _status(main())


def check_dataset() -> int:
    from stmixer_mm.cli.check_dataset import main
    return _status(main())
