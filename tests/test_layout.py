"""Each kind of thing in its OpenMMLab folder (issue 22, item 2), checked on
the source: datasets do not import the evaluation package, every hook is
under ``engine/hooks/``, every registration goes through
``stmixer_mm/registry.py``, and boxes / text are drawn only in
``visualization/``."""
import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

from mmengine.hooks import Hook

import stmixer_mm

PKG = Path(stmixer_mm.__file__).resolve().parent
COUNT_SCRIPT = PKG.parent / 'tools' / 'analysis_tools' / 'count_code_lines.py'

#: rendering of the synthetic data set draws its frames (not visualization)
DRAWING_ALLOWED = ('visualization', 'apps.data_gen')
DRAWING_CALLS = {
    'rectangle', 'putText', 'circle', 'line', 'polylines', 'ellipse',
    'arrowedLine', 'fillPoly', 'drawContours'
}


def _modules(sub=''):
    for path in sorted((PKG / sub).rglob('*.py')):
        name = '.'.join(('stmixer_mm', ) +
                        path.relative_to(PKG).with_suffix('').parts)
        if name.endswith('.__init__'):
            name = name[:-len('.__init__')]
        yield path, name, ast.parse(path.read_text(), str(path))


def _imported(tree, module_name):
    """Absolute names of the modules ``tree`` imports (relative imports
    resolved against ``module_name``)."""
    package = module_name.split('.')
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level]
                mod = '.'.join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ''
            out.append(mod)
            out += [f'{mod}.{a.name}' for a in node.names]
    return out


def test_datasets_do_not_import_the_evaluation_package():
    offenders = []
    for path, name, tree in _modules('datasets'):
        for mod in _imported(tree, name):
            if mod == 'stmixer_mm.evaluation' or \
                    mod.startswith('stmixer_mm.evaluation.'):
                offenders.append(f'{path.relative_to(PKG.parent)}: {mod}')
    assert not offenders, offenders
    assert list(_modules('datasets')), 'no dataset modules found'


def _hook_classes():
    import stmixer_mm.engine  # noqa: F401
    seen = {}
    stack = [Hook]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith('stmixer_mm.'):
                seen[sub.__name__] = sub
    return seen


def test_every_hook_is_under_engine_hooks():
    hooks = _hook_classes()
    assert {
        'RandomStateHook', 'ClassConsistencyHook', 'AVAEvaluationCheckHook',
        'ActionDetVisualizationHook', 'CheckpointCheckHook', 'ResumeCheckHook'
    } <= set(hooks)
    elsewhere = {
        name: cls.__module__
        for name, cls in hooks.items()
        if not cls.__module__.startswith('stmixer_mm.engine.hooks.')
    }
    assert elsewhere == {}


def test_every_registration_goes_through_the_registry_module():
    """Every ``@X.register_module()`` (or ``X.register_module(...)``) in the
    package uses a registry imported from ``stmixer_mm.registry``, and no
    module but ``registry.py`` imports a registry to register into."""
    offenders = []
    registrations = 0
    for path, name, tree in _modules():
        if name == 'stmixer_mm.registry':
            continue
        from_registry = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and \
                    node.module == 'stmixer_mm.registry':
                from_registry |= {a.asname or a.name for a in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and \
                    node.attr == 'register_module':
                registrations += 1
                target = node.value
                if not (isinstance(target, ast.Name)
                        and target.id in from_registry):
                    offenders.append(
                        f'{path.relative_to(PKG.parent)}:{node.lineno}')
    assert offenders == [], offenders
    assert registrations > 30


def test_drawing_only_in_visualization():
    offenders = []
    for path, name, tree in _modules():
        if _part(name) in DRAWING_ALLOWED:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and \
                    isinstance(node.value, ast.Name) and \
                    node.value.id == 'cv2' and node.attr in DRAWING_CALLS:
                offenders.append(
                    f'{path.relative_to(PKG.parent)}:{node.lineno} '
                    f'cv2.{node.attr}')
    assert not offenders, offenders


def test_the_checks_see_a_violation(tmp_path):
    """The helpers above do find what they look for."""
    tree = ast.parse('from ..evaluation.metrics import tube_metric\n'
                     'from stmixer_mm.registry import MODELS\n')
    mods = _imported(tree, 'stmixer_mm.datasets.x')
    assert 'stmixer_mm.evaluation.metrics' in mods
    assert 'stmixer_mm.registry.MODELS' in mods
    assert inspect.isclass(_hook_classes()['RandomStateHook'])


#: what loads a Python file by its path (a script run or imported as a
#: module): tests run a tool in a subprocess or call its command line in
#: ``stmixer_mm.apps.cli``; tools import the package
PATH_LOADERS = {
    'spec_from_file_location', 'SourceFileLoader', 'exec_module', 'run_path',
    'run_module'
}


def _path_loads(tree, where):
    out = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Import):
            name = next((a.name for a in node.names if a.name == 'runpy'),
                        None)
        elif isinstance(node, ast.ImportFrom) and node.module == 'runpy':
            name = 'runpy'
        if name in PATH_LOADERS or name == 'runpy':
            out.append(f'{where}:{node.lineno} {name}')
    return out


def _repository_sources():
    from stmixer_mm.testing import repo_root
    root = Path(repo_root())
    for top in ('stmixer_mm', 'tools', 'tests', 'demo'):
        for path in sorted((root / top).rglob('*.py')):
            yield path, str(path.relative_to(root))


#: the one file allowed a path loader: the test runner runs a script of
#: ``tools/`` as ``__main__`` in the test's process (what ``python
#: tools/X.py`` does, without a new interpreter's ~8 s of imports), a run
#: of the script, not an import of its code
TOOL_RUNNER = str(Path('stmixer_mm', 'testing', 'tools.py'))


def test_no_script_is_loaded_by_its_path():
    offenders = []
    count = 0
    for path, where in _repository_sources():
        count += 1
        found = _path_loads(ast.parse(path.read_text(), where), where)
        if where == TOOL_RUNNER:  # its runpy.run_path only
            assert sorted(f.split(' ')[1]
                          for f in found) == ['run_path', 'runpy',
                                              'runpy'], found
        else:
            offenders += found
    assert not offenders, (
        'loads a file by its path (run the tool in a subprocess, or import '
        'its command line from stmixer_mm.apps.cli / the library from the '
        f'package): {offenders}')
    assert count > 300


def test_nothing_in_the_package_imports_its_command_lines():
    """``stmixer_mm.apps.cli`` is the top layer: scripts and tests import it,
    no other module of the package does."""
    offenders = []
    for path, name, tree in _modules():
        if name == 'stmixer_mm.apps.cli' or name.startswith(
                'stmixer_mm.apps.cli.'):
            continue
        for mod in _imported(tree, name):
            if mod == 'stmixer_mm.apps.cli' or mod.startswith(
                    'stmixer_mm.apps.cli.'):
                offenders.append(f'{path.relative_to(PKG.parent)}: {mod}')
    assert not offenders, offenders
    assert list(_modules('apps/cli')), 'no command-line modules found'


def test_the_path_load_check_sees_a_violation():
    tree = ast.parse(
        'import importlib.util, runpy\n'
        's = importlib.util.spec_from_file_location("m", "m.py")\n'
        's.loader.exec_module(m)\n'
        'runpy.run_path("tools/x.py")\n')
    found = {w.split(' ')[1] for w in _path_loads(tree, 'x.py')}
    assert found == {
        'runpy', 'spec_from_file_location', 'exec_module', 'run_path'
    }


#: the sub-packages from the ground up: a module imports (at module level
#: or inside a function) only from its own sub-package and from those on
#: lower floors, as in mmdet (utils < ops (as mmcv.ops) < models /
#: datasets / evaluation < visualization < engine < apis); the applications
#: (``apps.*``, each its own part) stand on the library, ``apps.cli`` is the
#: roof (see docs/en/overview.md)
LIBRARY = (
    ('registry', 'version', 'known_warnings', 'moved'),
    ('utils', ),
    ('ops', ),
    ('models', ),
    ('datasets', ),
    ('evaluation', ),
    ('visualization', ),
    ('engine', ),
    ('converters', ),
    ('apis', ),
)
APPLICATIONS = (
    ('apps', 'apps.stop_signals', 'apps.output_files', 'apps.command_errors',
     'apps.preflight', 'apps.json_logs', 'apps.collect_env', 'apps.display',
     'apps.prediction_grid'),
    ('apps.data_gen', 'apps.importers', 'apps.work_dir_lock',
     'apps.converter_tools', 'apps.runner_utils', 'apps.deployment',
     'apps.converters'),
    ('apps.dataset_doctor', ),
    ('apps.online', ),
    ('apps.demo', ),
    ('apps.web_demo', ),
    ('apps.benchmarks', ),
    ('testing', 'configs'),
    ('apps.cli', ),
)
LAYERS = LIBRARY + APPLICATIONS
FLOOR = {part: floor for floor, parts in enumerate(LAYERS) for part in parts}


def _part(module_name):
    parts = module_name.split('.')
    if len(parts) < 2 or parts[0] != 'stmixer_mm':
        return None
    return '.'.join(parts[1:3]) if parts[1] == 'apps' else parts[1]


def _upward_imports(modules):
    """``(file, imported module)`` of every import from a sub-package on
    the same floor or higher (except its own)."""
    out = []
    for path, name, tree in modules:
        here = _part(name)
        if here is None:
            continue  # the package's __init__ wires everything
        for mod in _imported(tree, name):
            there = _part(mod)
            if there is None or there == here or there not in FLOOR:
                continue
            if FLOOR[there] >= FLOOR[here]:
                out.append((str(path.relative_to(PKG.parent)), mod))
    return out


def test_layers_in_one_order():
    """No sub-package imports one on its own floor or above it (not even
    inside a function), so no two import each other."""
    modules = list(_modules())
    parts = {_part(name) for _, name, _ in modules} - {None}
    assert parts <= set(FLOOR), f'place {parts - set(FLOOR)} in LAYERS'
    offenders = _upward_imports(modules)
    assert not offenders, offenders


def test_layer_check_sees_an_upward_import():
    tree = ast.parse('def f():\n    from stmixer_mm.apis import x\n'
                     'from ..registry import MODELS\n'
                     'from .type_names import type_name\n')
    found = _upward_imports([(PKG / 'utils' / 'x.py', 'stmixer_mm.utils.x',
                              tree)])
    assert [m for _, m in found] == ['stmixer_mm.apis', 'stmixer_mm.apis.x']


def test_no_private_name_crosses_a_module():
    """A name another module of the package imports is public (no leading
    underscore): what a module keeps private stays inside it."""
    offenders = []
    for path, name, tree in _modules():
        package = name.split('.') if path.name == '__init__.py' else \
            name.split('.')[:-1]
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            mod = '.'.join(package[:len(package) - node.level + 1] +
                           [node.module or '']) if node.level else \
                node.module or ''
            offenders += [
                f'{path.relative_to(PKG.parent)}: {mod}.{a.name}'
                for a in node.names if mod.startswith('stmixer_mm')
                and a.name.startswith('_') and not a.name.startswith('__')
            ]
    assert not offenders, offenders


#: what writes result files: only apis/results (and the writers themselves
#: in apis/video_io) may call these in the apis package
RESULT_FILE_CALLS = {'VideoWriter', 'JsonlWriter', 'OutputFiles', 'dump'}
RESULT_WRITERS = ('stmixer_mm.apis.results', 'stmixer_mm.apis.video_io')


def _result_file_calls(tree, where):
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(
            func, 'id', None)
        if name in RESULT_FILE_CALLS or (isinstance(func, ast.Attribute)
                                         and name == 'writer' and getattr(
                                             func.value, 'id', '') == 'csv'):
            out.append(f'{where}:{node.lineno} {name}')
    return out


def test_one_path_from_results_to_files():
    """The Inferencer, the offline demo and the online runner write their
    files through ``apis/results`` (ResultWriter), not each its own way
    (issue 47, item 2); the Inferencer and the runner each stay under 360
    code lines (docstrings, comments and blank lines not counted: the
    counting script of issue 72)."""
    offenders = []
    for path, name, tree in _modules('apis'):
        if not name.startswith(RESULT_WRITERS):
            offenders += _result_file_calls(tree, name)
    assert offenders == [], offenders
    files = [
        str(PKG / rel) for rel in ('apis/inferencers/stmixer_inferencer.py',
                                   'apps/online/runner.py')
    ]
    counted = subprocess.run(
        [sys.executable, str(COUNT_SCRIPT), '--files'] + files,
        capture_output=True,
        text=True,
        check=True).stdout.split()
    assert len(counted) == 4, counted
    for lines, name in zip(counted[::2], counted[1::2]):
        assert int(lines) < 360, name


def test_the_result_path_check_sees_a_violation():
    tree = ast.parse('import csv, json\n'
                     'def f(x, f):\n'
                     '    json.dump(x, f)\n'
                     '    csv.writer(f)\n'
                     '    VideoWriter("a.mp4", 30)\n')
    assert [c.split()[-1] for c in _result_file_calls(tree, 'm')
            ] == ['dump', 'writer', 'VideoWriter']


def _local_cross_imports(tree, module_name, lines):
    """Imports inside functions of a module of another sub-package, with
    whether a comment says why (on the line before or the same line)."""
    own = (module_name.split('.') + [''])[1]
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            mods = [
                m for m in _imported(ast.Module([node], []), module_name)
                if m.startswith('stmixer_mm.')
            ]
            if not mods or all(m.split('.')[1] == own for m in mods):
                continue
            before = lines[node.lineno - 2].strip() if node.lineno > 1 else ''
            said = before.startswith('#') or '#' in lines[node.lineno - 1]
            out.append((node.lineno, said))
    return out


def test_imports_inside_functions_say_why():
    """Issue 47, item 1: an import of another sub-package inside a
    function (where a dependency is optional or heavy) says why in a
    comment; the rest are at the top of their module."""
    offenders, count = [], 0
    for path, name, tree in _modules():
        lines = path.read_text().splitlines()
        for lineno, said in _local_cross_imports(tree, name, lines):
            count += 1
            if not said:
                offenders.append(f'{path.relative_to(PKG.parent)}:{lineno}')
    assert offenders == [], offenders
    assert count <= 5, count


def test_the_local_import_check_sees_a_violation():
    src = ('def f():\n'
           '    from stmixer_mm.registry import MODELS\n'
           'def g():\n'
           '    # heavy\n'
           '    from stmixer_mm.registry import MODELS\n'
           'def h():\n'
           '    from .other import x\n')
    tree = ast.parse(src)
    assert _local_cross_imports(tree, 'stmixer_mm.utils.x',
                                src.splitlines()) == [(2, False), (5, True)]


#: the parts the projects register, by registry (none is the core's)
PROJECT_PARTS = dict(
    MODELS=('STMixerTracker', 'QueryInteractionBlock', 'STMixerForecastHead',
            'STMixerForecastDecoder', 'STMixerMaskHead', 'STMixerMaskDecoder'),
    DATA_SAMPLERS=('TrackSequenceSampler', ),
    DATASETS=('TubeForecastDataset', 'AVAForecastDataset', 'AVAMaskDataset',
              'TubeMaskDataset'),
    TRANSFORMS=('LoadForecastTargets', 'PackForecastInputs', 'LoadActorMasks',
                'PackActorInputs'),
    METRICS=('ForecastMetric', 'ActorMaskMetric'))


def test_the_core_does_not_carry_the_experimental_projects():
    """projects/ (mmdet's convention: experimental parts, imported by their
    configs' custom_imports) build on the core, never the other way round:
    no module of stmixer_mm imports ``projects``, and ``import stmixer_mm``
    alone registers none of the projects' parts nor result fields (issues
    48 and 113)."""
    import subprocess
    import sys
    offenders = [
        f'{path.relative_to(PKG.parent)}: {mod}'
        for path, name, tree in _modules() for mod in _imported(tree, name)
        if mod == 'projects' or mod.startswith('projects.')
    ]
    assert not offenders, offenders
    code = ('import stmixer_mm\n'
            'from stmixer_mm import registry\n'
            'from stmixer_mm.visualization.person_fields import '
            'PERSON_FIELDS\n'
            f'parts = {PROJECT_PARTS!r}\n'
            'print(sorted(n for kind, names in parts.items() for n in names '
            'if n in getattr(registry, kind).module_dict) + '
            'sorted(PERSON_FIELDS))')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         cwd=str(PKG.parent.parent),
                         check=True).stdout
    assert out.strip().splitlines()[-1] == '[]'


def _module_imports(modules):
    """``{module: set of package modules it imports}``, imports inside
    functions included; ``from a import b`` names the module ``a.b`` where
    there is one, else ``a``."""
    paths = {name: path for path, name, _ in modules}
    graph = {}
    for path, name, tree in modules:
        package = name.split('.')
        if path.name != '__init__.py':
            package = package[:-1]
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                pairs = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = '.'.join(package[:len(package) - node.level + 1] +
                               ([node.module] if node.module else [])) \
                    if node.level else node.module
                pairs = [(mod, a.name) for a in node.names]
            else:
                continue
            for mod, attr in pairs:
                if attr and f'{mod}.{attr}' in paths:
                    targets.add(f'{mod}.{attr}')
                elif mod in paths:
                    targets.add(mod)
        graph[name] = targets - {name}
    return graph


def _cycles(graph):
    """The import cycles of ``graph``: its strongly connected components
    of more than one module (Tarjan's algorithm, iterative)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_cycle_and_no_import_of_the_package_root():
    """Issue 72, item 4: no two modules import each other, directly or
    round a loop, even inside a function; and no module below ``cli/``
    imports the package root (importing any module runs it first)."""
    graph = _module_imports(list(_modules()))
    assert _cycles(graph) == []
    below_cli = [
        name for name, targets in graph.items() if 'stmixer_mm' in targets
        and not name.startswith('stmixer_mm.apps.cli')
    ]
    assert below_cli == []


def test_importing_the_package_loads_no_application():
    """Issue 96, point 1: ``import stmixer_mm`` registers the library and
    loads no module of :mod:`stmixer_mm.apps` (nor the inference API)."""
    out = subprocess.run([
        sys.executable, '-c', 'import sys, stmixer_mm; print(" ".join('
        'm for m in sys.modules if m.startswith("stmixer_mm.")))'
    ],
                         capture_output=True,
                         text=True,
                         check=True).stdout.split()
    assert 'stmixer_mm.models.detectors.stmixer' in out
    assert [
        m for m in out if m.startswith(('stmixer_mm.apps', 'stmixer_mm.apis'))
    ] == []


def _dotted(path):
    return path[:-len('.py')].replace('/', '.').replace('.__init__', '')


def test_the_cycle_check_sees_a_late_cycle():
    sources = {
        'stmixer_mm/a.py': 'def f():\n    from .b import x\n',
        'stmixer_mm/b.py': 'from stmixer_mm import c\n',
        'stmixer_mm/c.py': 'import stmixer_mm.a\n',
        'stmixer_mm/d.py': 'import stmixer_mm\n',
        'stmixer_mm/__init__.py': '',
    }
    modules = [(Path(path), _dotted(path), ast.parse(text))
               for path, text in sources.items()]
    graph = _module_imports(modules)
    assert _cycles(graph) == [['stmixer_mm.a', 'stmixer_mm.b', 'stmixer_mm.c']]
    assert graph['stmixer_mm.d'] == {'stmixer_mm'}


#: the five like-for-like files of the core (issue 96: Sparse R-CNN's
#: detector, RPN head, roi head, DII head and bbox head)
CORE_FIVE = ('models/detectors/stmixer.py',
             'models/dense_heads/stmixer_query_generator.py',
             'models/roi_heads/stmixer_decoder.py',
             'models/roi_heads/bbox_heads/stmixer_stage_head.py',
             'models/roi_heads/bbox_heads/stmixer_bbox_head.py')


def _run_count(*args):
    return subprocess.run(
        [sys.executable, str(COUNT_SCRIPT), *args],
        capture_output=True,
        text=True,
        check=True).stdout.split()


def test_checks_at_the_boundary_and_a_core_read_in_one_sitting():
    """Issue 96: argument and shape checks are at most 6 % of ``models/``'s
    code lines (``count_code_lines.py --checks``; the helpers are
    ``utils/checks.py``), and the five like-for-like core files at most
    1,000 code lines."""
    out = _run_count('--checks', 'models')
    code, checks = int(out[1]), int(out[4])
    assert checks <= 0.06 * code, f'{checks} of {code} code lines'
    counted = _run_count('--files', *(str(PKG / f) for f in CORE_FIVE))
    assert sum(int(n) for n in counted[::2]) <= 1000, counted


def test_the_check_count_sees_each_kind_of_check(tmp_path):
    """What ``count_code_lines.py --checks`` counts (a raise, an assert, an
    ``if`` that only raises, a ``check_*`` call and function) and what not
    (a bare re-raise, other code)."""
    (tmp_path / 'm.py').write_text(
        'def f(x):\n'  # 1
        '    if x < 0:\n'  # 2 counted (the test)
        '        raise ValueError(x)\n'  # 3 counted
        '    assert x\n'  # 4 counted
        '    check_ints("f", x=x)\n'  # 5 counted
        '    try:\n'  # 6
        '        y = x + 1\n'  # 7
        '    except TypeError:\n'  # 8
        '        raise\n'  # 9 (a re-raise: not counted)
        '    return y\n'  # 10
        'def check_y(y):\n'  # 11 counted (the whole function)
        '    return y\n')  # 12 counted
    out = _run_count('--checks', str(tmp_path))
    assert out[1:] == [
        '12', 'code', 'lines,', '6', 'check', 'lines', '(50.0', '%)'
    ], out


def test_the_figures_of_issue_105_are_printed_and_counted(tmp_path):
    """``count_code_lines.py --figures`` prints every figure issue 105 sets
    a target for (the targets themselves are not tested), and its counts
    see what they count: an exception class of the project's own (also
    one derived from another of them), a check-named function."""
    out = subprocess.run(
        [sys.executable, str(COUNT_SCRIPT), '--figures'],
        capture_output=True,
        text=True,
        check=True).stdout
    for name in ('package', 'library', 'model', 'utils', 'non_model_per_model',
                 'raise_assert_per_1000', 'own_exceptions', 'check_functions'):
        assert name in out, out
    (tmp_path / 'stmixer_mm' / 'models').mkdir(parents=True)
    (tmp_path / 'stmixer_mm' / 'models' / 'a.py').write_text('x = 1\n')
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'projects').mkdir()
    (tmp_path / 'stmixer_mm' / 'm.py').write_text(
        'def check_x(x):\n    pass\n'
        'def row_problem(r):\n    pass\n'
        'def checkpoint_path(p):\n    pass\n'
        'class AError(ValueError):\n    pass\n'
        'class B(AError):\n    pass\n'
        'class C:\n    pass\n')
    code = ('import sys; from pathlib import Path; '
            f'sys.path.insert(0, {str(COUNT_SCRIPT.parent)!r}); '
            'import count_code_lines as c; '
            f'f = c.figures(Path({str(tmp_path)!r})); '
            "print(int(f['check_functions']), f['own_exceptions'])")
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True).stdout.split()
    assert out == ['2', '2'], out  # check_x, row_problem; AError, B


def test_every_name_in_all_exists():
    """Each name a module of the package lists in ``__all__`` is one of its
    attributes (or sub-modules): ``from <module> import *`` and the docs'
    names resolve (a class replaced by Python's own left its name behind
    once)."""
    missing = []
    for path, name, tree in _modules():
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    getattr(t, 'id', '') == '__all__' for t in node.targets):
                module = importlib.import_module(name)
                missing += [
                    f'{name}.{n}' for n in ast.literal_eval(node.value)
                    if not hasattr(module, n) and not _submodule(name, n)
                ]
    assert not missing, missing


def _submodule(package, name):
    try:
        importlib.import_module(f'{package}.{name}')
    except ImportError:
        return False
    return True


def test_utils_is_a_leaf():
    """``stmixer_mm.utils`` imports nothing of the package outside itself
    (issue 113: the moved-name pointers are not its business)."""
    offenders = [
        f'{path.relative_to(PKG.parent)}: {mod}'
        for path, name, tree in _modules('utils') for mod in _imported(
            tree, f'{name}.__init__' if path.name == '__init__.py' else name)
        if (mod == 'stmixer_mm' or mod.startswith('stmixer_mm.'))
        and not mod.startswith('stmixer_mm.utils')
    ]
    assert not offenders, offenders


#: ``(core module, extension it no longer imports)`` (issue 113): the part
#: or a registry answers instead (a prefix names a package and its modules)
CUT_EDGES = (
    ('stmixer_mm.apis.inference', 'stmixer_mm.datasets.transforms.tubelets'),
    ('stmixer_mm.visualization.local_visualizer',
     'stmixer_mm.visualization.track_drawing'),
)


def test_the_core_modules_do_not_import_their_extensions():
    graph = _module_imports(list(_modules()))
    kept = [(a, b) for a, b in CUT_EDGES
            if any(t == b or t.startswith(b + '.') for t in graph[a])]
    assert not kept, kept


def test_the_export_knows_no_task_head_by_name():
    """Issue 113: the ONNX export, its post-processing and its check ask the
    task heads for their outputs (``export_output``, ``EXPORT_HEADS``); none
    names the mask head or its outputs."""
    named = [
        f'{path.relative_to(PKG.parent)}:{i}'
        for path, _, _ in _modules('apps/deployment')
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if 'mask' in line.lower()
    ]
    assert not named, named
