"""The public API states its contract as mmdet's does (issue 72, item 2):
every public function and method with two or more parameters in
``models/``, ``datasets/``, ``evaluation/`` and ``apis/`` has ``Args:``
(a class's ``__init__`` in the class docstring, as mmdet writes them) and,
where it returns a value, ``Returns:`` (or ``Yields:``)."""
import ast
from pathlib import Path

import stmixer_mm

PKG = Path(stmixer_mm.__file__).resolve().parent
DOCUMENTED = ('models', 'datasets', 'evaluation', 'apis')
#: the share of functions that must document their arguments / return value
MIN_ARGS, MIN_RETURNS = 0.85, 0.80
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _own_nodes(fn):
    """The nodes of ``fn``'s body, not those of functions defined in it."""
    todo = list(fn.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _returns_a_value(fn):
    for node in _own_nodes(fn):
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        value = getattr(node, 'value', None) if isinstance(
            node, ast.Return) else None
        if value is not None and not (isinstance(value, ast.Constant)
                                      and value.value is None):
            return True
    return False


def _parameters(fn):
    args = fn.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a]
    return [n for n in names if n not in ('self', 'cls')]


def _is_property(fn):
    return any(
        isinstance(d, ast.Name) and d.id == 'property'
        or isinstance(d, ast.Attribute) and d.attr in ('setter', 'deleter')
        for d in fn.decorator_list)


def public_functions(tree, where):
    """``(where:line name, has Args, returns a value, has Returns)`` of
    each public function, method and class ``__init__`` of ``tree`` with
    two or more parameters (``self`` / ``cls`` not counted).

    Args:
        tree (ast.Module): A parsed module.
        where (str): Its path, for the first field.

    Returns:
        list[tuple[str, bool, bool, bool]]: One row per function.
    """
    rows = []

    def visit(body, cls):
        for node in body:
            if isinstance(node, ast.ClassDef):
                if not node.name.startswith('_'):
                    visit(node.body, node)
                continue
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            init = node.name == '__init__'
            if (node.name.startswith('_') and not (init and cls)) or \
                    _is_property(node) or len(_parameters(node)) < 2:
                continue
            doc = ast.get_docstring(node) or ''
            if init:
                doc = (ast.get_docstring(cls) or '') + '\n' + doc
            name = f'{cls.name}.{node.name}' if cls else node.name
            has_args = 'Args:' in doc
            has_returns = 'Returns:' in doc or 'Yields:' in doc
            returns = not init and _returns_a_value(node)
            rows.append((f'{where}:{node.lineno} {name}', has_args, returns,
                         has_returns))

    visit(tree.body, None)
    return rows


def _coverage(rows):
    with_value = [r for r in rows if r[2]]
    return (sum(r[1] for r in rows) / len(rows),
            sum(r[3] for r in with_value) / len(with_value))


def test_public_api_documents_arguments_and_return_values():
    rows = []
    for sub in DOCUMENTED:
        for path in sorted((PKG / sub).rglob('*.py')):
            rows += public_functions(
                ast.parse(path.read_text()), str(path.relative_to(PKG)))
    assert len(rows) > 250, len(rows)  # the walk finds the API
    args, returns = _coverage(rows)
    missing_args = [r[0] for r in rows if not r[1]]
    missing_returns = [r[0] for r in rows if r[2] and not r[3]]
    assert args >= MIN_ARGS, (f'{args:.0%} document Args', missing_args)
    assert returns >= MIN_RETURNS, (f'{returns:.0%} document Returns',
                                    missing_returns)


def test_the_coverage_check_counts_what_it_should():
    src = '''
def two(a, b):
    """Args:
        a: x.
        b: y.
    Returns:
        int: z.
    """
    return a + b
def bare(a, b):
    def inner():
        return 1
    inner()
def one(a):
    return a
def _private(a, b):
    return a
class Head:
    """Args:
        c (int): c.
    """
    def __init__(self, c, d=1):
        pass
    def forward(self, x, y):
        """Sum."""
        yield x
    @property
    def p(self, a, b):
        return a
class _Hidden:
    def forward(self, x, y):
        return x
'''
    rows = public_functions(ast.parse(src), 'm.py')
    assert [(r[0].split()[1], ) + r[1:] for r in rows] == [
        ('two', True, True, True),
        ('bare', False, False, False),
        ('Head.__init__', True, False, False),
        ('Head.forward', False, True, False),
    ]
    assert _coverage(rows) == (0.5, 0.5)
