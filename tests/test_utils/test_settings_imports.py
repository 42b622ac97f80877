"""The utils modules import one way (no cycle), and the pre-run check
(``apps/preflight.py``) is plain code: no declared settings, no tables
keyed by class name."""
import ast
import glob
import os
import os.path as osp

import stmixer_mm
from stmixer_mm.apps import preflight as settings

UTILS = osp.join(osp.dirname(stmixer_mm.__file__), 'utils')


def _utils_imports(path):
    """The ``stmixer_mm.utils`` modules ``path`` imports, anywhere in the
    file (a lazy import inside a function is an import too)."""
    tree = ast.parse(open(path).read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y / from . import x
                if node.module:
                    names = [node.module]
                else:
                    names = [a.name for a in node.names]
            elif (node.module or '').startswith('stmixer_mm.utils.'):
                names = [node.module[len('stmixer_mm.utils.'):]]
            elif node.module == 'stmixer_mm.utils':
                names = [a.name for a in node.names]
            else:
                continue
            out.update(n.split('.')[0] for n in names)
        elif isinstance(node, ast.Import):
            out.update(
                a.name.split('.')[2] for a in node.names
                if a.name.startswith('stmixer_mm.utils.'))
    return out


def _graph():
    modules = {
        osp.splitext(osp.basename(p))[0]: p
        for p in glob.glob(osp.join(UTILS, '*.py'))
        if not p.endswith('__init__.py')
    }
    return {
        name: _utils_imports(path) & set(modules)
        for name, path in modules.items()
    }


def test_the_utils_modules_import_one_way():
    graph = _graph()
    assert graph['type_names'] == set()
    assert graph['checks'] <= {'numeric'}


def test_no_import_cycle_in_utils():
    graph = _graph()
    state = {}

    def visit(node, stack):
        state[node] = 'open'
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 'open':
                raise AssertionError('import cycle: ' +
                                     ' -> '.join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_cycle_check_sees_a_lazy_import(tmp_path):
    """The scan counts an import inside a function."""
    path = tmp_path / 'mod.py'
    path.write_text('def f():\n    from . import settings_specs\n'
                    'from .settings import declare_rule\n')
    assert _utils_imports(str(path)) == {'settings_specs', 'settings'}


def test_no_settings_language_in_the_pre_run_check():
    """Issue 82: the pre-run check builds each part (its own ``__init__``
    checks), with no table of settings keyed by class name."""
    assert not hasattr(settings, 'MMACTION2_CHECKS')
    assert not hasattr(settings, 'AVA_DATASET')
    source = open(settings.__file__).read()
    assert 'SETTINGS' not in source


def test_no_settings_language_left_in_the_package():
    """Issue 82: every class checks its own arguments in plain code; no
    ``SETTINGS`` / ``RULES`` tables, no ``check_arguments`` call and no
    ``setting_types`` module anywhere in the package or its projects."""
    root = osp.dirname(osp.dirname(stmixer_mm.__file__))
    found = []
    for top in ('stmixer_mm', 'projects'):
        for folder, _, files in os.walk(osp.join(root, top)):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = osp.join(folder, name)
                tree = ast.parse(open(path).read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, ast.Assign) and any(
                            getattr(t, 'id', None) in ('SETTINGS', 'RULES')
                            for t in node.targets):
                        found.append(f'{path}:{node.lineno}')
                    elif isinstance(node, ast.Call) and getattr(
                            node.func, 'id', None) == 'check_arguments':
                        found.append(f'{path}:{node.lineno}')
    assert found == []
    assert not osp.exists(osp.join(UTILS, 'setting_types.py'))
