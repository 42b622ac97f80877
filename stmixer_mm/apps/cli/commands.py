"""The console commands of the tools and how to name one in a message."""
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
    'web': ('stmixer-web', 'tools/web_demo.py'),
}
#: the checkpoint converters (tools/model_converters/)
TOOLS.update((f'convert-{kind}',
              (f'stmixer-convert-{kind}',
               f'tools/model_converters/convert_{kind}_checkpoint.py'))
             for kind in ('official', 'kinetics', 'videomae', 'sharded'))


def command(tool: str) -> str:
    """How to run ``tool`` where the user is.

    Args:
        tool (str): A key of :data:`TOOLS`, e.g. ``'train'``.

    Returns:
        str: ``python <checkout>/tools/...`` when this process was started
        as a script of a checkout that holds the tool, else the tool's
        console command (``stmixer-train``).
    """
    script, path = TOOLS[tool]
    started = sys.argv[0] if sys.argv else ''
    for _, own in TOOLS.values():
        if started.replace(osp.sep, '/').endswith(own):
            root = started[:len(started) - len(own)]
            if osp.isfile(osp.join(root or '.', path)):
                return f'python {shlex.quote(root + path)}'
    return script
