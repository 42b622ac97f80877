"""The settings modules import one way (no cycle), and every setting key
is declared once, by its class."""
import ast
import glob
import os
import os.path as osp
import subprocess
import sys

import stmixer_mm
from stmixer_mm.utils import settings

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


def test_the_settings_modules_import_one_way():
    graph = _graph()
    # the kinds of setting (and a class's, along its MRO) need nothing;
    # the checks need them, the type names and the config files
    assert graph['type_names'] == set()
    assert graph['setting_types'] == set()
    # the config files read the package's configs and metafiles (names)
    assert graph['config_files'] <= {'package_files'}
    assert graph['package_files'] == set()
    assert {'setting_types', 'type_names', 'config_files'} <= \
        graph['settings']


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
    """The scan counts an import inside a function (the old cycle was one:
    ``settings._load_specs`` imported ``settings_specs``, which imported
    ``settings``)."""
    path = tmp_path / 'mod.py'
    path.write_text('def f():\n    from . import settings_specs\n'
                    'from .settings import declare_rule\n')
    assert _utils_imports(str(path)) == {'settings_specs', 'settings'}


def test_each_module_imports_first_in_a_fresh_interpreter():
    """Importing ``setting_types`` alone, or ``settings`` alone, in a fresh
    interpreter works, and gives the same declarations."""
    for first in ('setting_types', 'settings'):
        code = (f'import stmixer_mm.utils.{first} as m; '
                'from stmixer_mm.utils.settings import checks_of; '
                "assert 'test_cfg' in checks_of('STMixerDecoder')[0]; "
                'print("ok")')
        done = subprocess.run([sys.executable, '-c', code],
                              capture_output=True,
                              text=True,
                              env=dict(os.environ, OMP_NUM_THREADS='1'))
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith('ok')


def test_declarations_live_in_their_class():
    """The checks read a class's own ``SETTINGS`` (no store by name)."""
    from stmixer_mm.models.roi_heads import STMixerDecoder
    assert settings.checks_of('STMixerDecoder')[0]['num_stages'] is \
        STMixerDecoder.SETTINGS['num_stages']
    assert not hasattr(settings, 'DECLARED')


def test_test_cfg_keys_are_declared_once():
    """The decoder's test_cfg keys: one table gives both the settings the
    config check uses and the defaults the model and the ONNX
    post-processing use."""
    from stmixer_mm.deployment.postprocess import AVA_TEST_CFG_DEFAULTS
    from stmixer_mm.models.detectors import STMixer
    from stmixer_mm.models.roi_heads import STMixerDecoder
    from stmixer_mm.models.roi_heads.bbox_heads import stmixer_bbox_head
    defaults = stmixer_bbox_head.TEST_CFG_DEFAULTS
    assert AVA_TEST_CFG_DEFAULTS == defaults['ava']
    # today's values (the regression fixtures rely on them)
    assert defaults == dict(
        ava=dict(
            person_threshold=0.6, num_fallback=3, multiply_person_score=False),
        mmdet=dict(max_per_img=100, multiply_person_score=True))
    fields = stmixer_bbox_head.TEST_CFG.fields
    keys = set(defaults['ava']) | set(defaults['mmdet'])
    assert sorted(fields) == sorted(keys)
    for convention in defaults.values():
        for key, value in convention.items():
            assert fields[key].problem(value) is None, key
    detector = settings.settings_of(STMixer)['test_cfg']
    assert detector.fields['rcnn'] is stmixer_bbox_head.TEST_CFG
    assert settings.settings_of(STMixerDecoder)['test_cfg'] is \
        stmixer_bbox_head.TEST_CFG
