"""Public names of the last layout that moved (``stmixer_mm.moved``): a
user's script written against it still imports them, with a
``FutureWarning`` naming the new place, and gets the very objects of the
new place; a module that left the package fails naming where it went.
Run in fresh interpreters (the finder and the warnings are per process)."""
import subprocess
import sys

import pytest

from stmixer_mm.testing import repo_root

CASES = [
    ('from stmixer_mm.apis import OnlineRunner as old',
     'from stmixer_mm.apps.online import OnlineRunner as new',
     'stmixer_mm.apis.OnlineRunner moved to stmixer_mm.apps.online'),
    ('import stmixer_mm.cli.entry_points; '
     'old = stmixer_mm.cli.entry_points.train',
     'from stmixer_mm.apps.cli.entry_points import train as new',
     'stmixer_mm.cli moved to stmixer_mm.apps.cli'),
    ('from stmixer_mm.data_gen.scene import build_split as old',
     'from stmixer_mm.apps.data_gen.scene import build_split as new',
     'stmixer_mm.data_gen moved to stmixer_mm.apps.data_gen'),
    ('from stmixer_mm.datasets.importers import read_label_map as old',
     'from stmixer_mm.apps.importers import read_label_map as new',
     'stmixer_mm.datasets.importers moved to stmixer_mm.apps.importers'),
    ('from stmixer_mm.apis.web_demo.server import make_server as old',
     'from stmixer_mm.apps.web_demo.server import make_server as new',
     'stmixer_mm.apis.web_demo moved to stmixer_mm.apps.web_demo'),
    ('from stmixer_mm.apis.online import ClipRingBuffer as old',
     'from stmixer_mm.apis.video_io.ring_buffer import ClipRingBuffer as new',
     'stmixer_mm.apis.online moved to stmixer_mm.apps.online'),
    ('from stmixer_mm.converters import convert_official_checkpoint as old',
     'from stmixer_mm.converters.official import '
     'convert_official_checkpoint as new',
     'stmixer_mm.converters.convert_official_checkpoint moved to '
     'stmixer_mm.converters.official'),
    ('from stmixer_mm.models.utils.checks import check_ints as old',
     'from stmixer_mm.utils.checks import check_ints as new',
     'stmixer_mm.models.utils.checks moved to stmixer_mm.utils.checks'),
    # issue 105: the applications out of the library
    ('from stmixer_mm.utils.settings import check_config as old',
     'from stmixer_mm.apps.preflight import check_config as new',
     'stmixer_mm.utils.settings moved to stmixer_mm.apps.preflight'),
    ('from stmixer_mm.engine import build_runner as old',
     'from stmixer_mm.apps.runner_utils import build_runner as new',
     'stmixer_mm.engine.build_runner moved to stmixer_mm.apps.runner_utils'),
    ('from stmixer_mm.deployment import export_onnx as old',
     'from stmixer_mm.apps.deployment import export_onnx as new',
     'stmixer_mm.deployment moved to stmixer_mm.apps.deployment'),
    ('from stmixer_mm.apis.tracker import OnlineTubeTracker as old',
     'from stmixer_mm.apis.greedy_tracker import OnlineTubeTracker as new',
     'stmixer_mm.apis.tracker moved to stmixer_mm.apis.greedy_tracker'),
]

SCRIPT = """
import warnings
import stmixer_mm
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    {old}
{new}
assert old is new, (old, new)
moved = [str(w.message) for w in caught if w.category is FutureWarning]
print(len(moved), moved[0] if moved else '')
"""


def _run(code):
    return subprocess.run([sys.executable, '-c', code],
                          cwd=repo_root(),
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_moved_names_import_from_their_old_place_with_one_warning():
    code = ''.join(
        f'\ndef case_{i}():\n' +
        '\n'.join('    ' + line
                  for line in SCRIPT.format(old=old, new=new).splitlines()) +
        f'\ncase_{i}()\n' for i, (old, new, _) in enumerate(CASES))
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(CASES)
    for line, (_, _, message) in zip(lines, CASES):
        count, text = line.split(' ', 1)
        assert count == '1' and message in text, line
        assert 'the old place goes in a later release' in text


@pytest.mark.parametrize('code, error, message', [
    ('import stmixer_mm.models.trackers.query_tracker', 'ModuleNotFoundError',
     'stmixer_mm.models.trackers left the package: it moved to '
     'projects/track_queries'),
    ('from stmixer_mm.apis import NoSuchName', 'ImportError',
     "cannot import name 'NoSuchName'"),
    ('from stmixer_mm.cli import no_such_module', 'ImportError',
     "cannot import name 'no_such_module' from 'stmixer_mm.cli'"),
])
def test_what_is_not_moved_fails_naming_it(code, error, message):
    proc = _run(f'import stmixer_mm\n{code}')
    assert proc.returncode == 1
    assert error in proc.stderr and message in proc.stderr, proc.stderr[-2000:]


def test_only_the_moved_names_go_through_the_finder():
    """``import stmixer_mm`` puts one finder first on ``sys.meta_path``; it
    answers nothing but the moved ``stmixer_mm`` modules (and warns once
    per moved module: a sub-module of a warned one is not warned again)."""
    from stmixer_mm.moved import MovedModuleFinder
    finder = next(f for f in sys.meta_path if isinstance(f, MovedModuleFinder))
    for name in ('stmixer_mm.apps.cli', 'stmixer_mm.apis', 'torch', 'json',
                 'stmixer_mm', 'stmixer_mm.clix'):
        assert finder.find_spec(name) is None, name
    assert finder.find_spec('stmixer_mm.cli.train').name == \
        'stmixer_mm.cli.train'
