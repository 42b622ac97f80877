"""Count the project's code lines: lines that hold code, not docstrings,
comments or blank lines.

What is counted (issue 72, point 5): the package ``stmixer_mm/`` without its
``configs/``, ``tools/`` (``.py`` files, and ``.sh`` files without their
comment and blank lines) and ``projects/`` without its ``configs/``, all
together, so that moving code between them changes nothing. A Python line
counts when a token other than a comment starts or continues on it and it
is not part of a docstring (the first string statement of a module, class
or function).

Example::

    python tools/analysis_tools/count_code_lines.py          # per folder
    python tools/analysis_tools/count_code_lines.py --total  # one number
    python tools/analysis_tools/count_code_lines.py --files a.py b.sh
    python tools/analysis_tools/count_code_lines.py --core   # issue 82
    python tools/analysis_tools/count_code_lines.py --figures  # issue 105

``--core``: the detector's path that issue 82 measures (:data:`CORE`): the
detector and its compiled predict, the query generator, the decoder, the
stage and bbox heads, sampling and mixing, the sampling operator, the
matching, the box helpers and the model utilities (the checking code they
call).
"""
import argparse
import ast
import io
import tokenize
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: the core path of issue 82, point 3 (files and folders of ``stmixer_mm``)
CORE = ('models/detectors/stmixer.py', 'models/detectors/compile.py',
        'models/dense_heads/stmixer_query_generator.py',
        'models/roi_heads/stmixer_decoder.py',
        'models/roi_heads/bbox_heads/stmixer_stage_head.py',
        'models/roi_heads/bbox_heads/stmixer_bbox_head.py',
        'models/layers/sampling_mixing.py', 'models/layers/adaptive_mixing.py',
        'models/layers/sampling', 'ops',
        'models/task_modules/batched_hungarian.py',
        'models/task_modules/box_xyzr.py',
        'models/task_modules/box_position_embedding.py', 'models/utils')
SKIP_TOKENS = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
               tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
               tokenize.ENCODING)


def docstring_lines(tree):
    """Line numbers taken by docstrings.

    Args:
        tree (ast.Module): The parsed module.

    Returns:
        set[int]: 1-based line numbers of every module, class and function
        docstring.
    """
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(
                    first.value, ast.Constant) and isinstance(
                        first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_line_numbers(text):
    """The code lines of a Python source.

    Args:
        text (str): The source.

    Returns:
        set[int]: 1-based numbers of the lines holding a token other than a
        comment, outside docstrings.
    """
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in SKIP_TOKENS:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines - docstring_lines(ast.parse(text))


def python_code_lines(text):
    """Number of code lines of a Python source.

    Args:
        text (str): The source.

    Returns:
        int: The size of :func:`code_line_numbers`.
    """
    return len(code_line_numbers(text))


def shell_code_lines(text):
    """Number of code lines of a shell script.

    Args:
        text (str): The script.

    Returns:
        int: Lines that are neither blank nor a ``#`` comment line.
    """
    return sum(1 for line in text.splitlines()
               if line.strip() and not line.lstrip().startswith('#'))


def counted_files(repo=REPO):
    """The files counted, with the part each belongs to.

    Args:
        repo (Path): The repository root.

    Returns:
        list[tuple[str, Path]]: ``(part, path)`` pairs, the part being
        ``stmixer_mm/<sub-package>`` (``stmixer_mm`` for its top-level
        modules), ``tools`` or ``projects``.
    """
    out = []
    for path in sorted((repo / 'stmixer_mm').rglob('*.py')):
        rel = path.relative_to(repo / 'stmixer_mm').parts
        if rel[0] == 'configs':
            continue
        out.append(
            (f'stmixer_mm/{rel[0]}' if len(rel) > 1 else 'stmixer_mm', path))
    for path in sorted((repo / 'tools').rglob('*')):
        if path.suffix in ('.py', '.sh') and path.is_file():
            out.append(('tools', path))
    for path in sorted((repo / 'projects').rglob('*.py')):
        if 'configs' not in path.relative_to(repo / 'projects').parts:
            out.append(('projects', path))
    return out


def core_files(repo=REPO):
    """The files of :data:`CORE`.

    Args:
        repo (Path): The repository root.

    Returns:
        list[Path]: Every ``.py`` file of the listed files and folders.
    """
    out = []
    for name in CORE:
        path = repo / 'stmixer_mm' / name
        out += sorted(path.rglob('*.py')) if path.is_dir() else [path]
    return out


#: names of the functions whose calls (and bodies) are checks
CHECK_PREFIXES = ('check_', '_check', 'require_', '_require')


def _is_check_call(node):
    func = node.func if isinstance(node, ast.Call) else None
    name = getattr(func, 'id', None) or getattr(func, 'attr', None) or ''
    return name.startswith(CHECK_PREFIXES)


def check_lines(text):
    """Line numbers of a Python source that check arguments or shapes.

    A check is a ``raise`` (not a bare one, which re-raises) or ``assert``
    statement, an ``if`` (or ``elif``) whose branch only raises (its test
    and the raise), a statement calling a function named ``check_*`` /
    ``_check*`` / ``require_*``, and the whole of a function so named.

    Args:
        text (str): The source.

    Returns:
        set[int]: 1-based line numbers (code lines among them are the
        module's check lines).
    """
    lines = set()

    def span(node):
        lines.update(range(node.lineno, node.end_lineno + 1))

    def raises(node):  # (a bare ``raise`` re-raises: no check)
        return isinstance(node, ast.Raise) and node.exc is not None

    for node in ast.walk(ast.parse(text)):
        if raises(node) or isinstance(node, ast.Assert):
            span(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.name.startswith(CHECK_PREFIXES):
            span(node)
        elif isinstance(node, ast.If) and node.body and all(
                raises(b) for b in node.body):
            span(node.test)
        elif isinstance(node,
                        (ast.Expr, ast.Assign)) and _is_check_call(node.value):
            span(node)
    return lines


def python_check_lines(text):
    """Number of code lines of a Python source that are checks.

    Args:
        text (str): The source.

    Returns:
        int: Code lines (:func:`python_code_lines`) in :func:`check_lines`.
    """
    return len(code_line_numbers(text) & check_lines(text))


def file_code_lines(path):
    """Code lines of one ``.py`` or shell file.

    Args:
        path (Path): The file.

    Returns:
        int: See :func:`python_code_lines` / :func:`shell_code_lines`.
    """
    text = Path(path).read_text(encoding='utf-8')
    return python_code_lines(text) if str(path).endswith(
        '.py') else shell_code_lines(text)


#: parts of the package that are not the library (issue 105): the
#: applications, the test helpers (the configs are never counted)
NOT_LIBRARY = ('apps', 'testing')
#: parts that are the model (the rest of the library is around it)
MODEL = ('models', 'ops')
#: the words that make a function check-named (issue 105, point 1):
#: ``check_x``, ``_checked_ids``, ``refuse_y``, ``row_problem``
CHECK_NAMES = ('check', 'checked', 'checks', 'validate', 'require', 'refuse',
               'problem', 'problems')


def statements(text):
    """Number of statements of a Python source (``ast.stmt`` nodes).

    Args:
        text (str): The source.

    Returns:
        int: Statements at every depth, docstrings included as the
        expression statements they are.
    """
    return sum(isinstance(n, ast.stmt) for n in ast.walk(ast.parse(text)))


def _own_errors(trees):
    """Names of the exception classes the package defines."""
    found, grown = set(), True
    while grown:
        before = len(found)
        for tree in trees:
            for node in ast.walk(tree):
                bases = [
                    getattr(b, 'id', getattr(b, 'attr', '')) for b in (
                        node.bases if isinstance(node, ast.ClassDef) else ())
                ]
                if any(
                        b.endswith(('Error', 'Exception',
                                    'Interrupt')) or b in found
                        for b in bases):
                    found.add(node.name)
        grown = len(found) > before
    return found


def figures(repo=REPO):
    """The figures issue 105 sets targets for, in code lines and in
    statements.

    Args:
        repo (Path): The repository root.

    Returns:
        dict[str, float]: ``package``, ``library``, ``model``, ``utils``
        (code lines), the same with ``_stmts`` (statements),
        ``non_model_per_model`` (both units), ``raise_assert_per_1000``
        (library, per 1,000 code lines / statements), ``own_exceptions``
        and ``check_functions`` (package-wide).
    """
    out = defaultdict(float)
    trees = []
    for part, path in counted_files(repo):
        if not part.startswith('stmixer_mm'):
            continue
        text = path.read_text(encoding='utf-8')
        tree = ast.parse(text)
        trees.append(tree)
        sub = part.split('/')[1] if '/' in part else ''
        lines, stmts = python_code_lines(text), statements(text)
        kinds = ['package']
        if sub not in NOT_LIBRARY:
            kinds.append('library')
            kinds += ['model'] if sub in MODEL else []
            kinds += ['utils'] if sub == 'utils' else []
            out['raise_assert'] += sum(
                isinstance(n, (ast.Raise, ast.Assert)) for n in ast.walk(tree))
        for kind in kinds:
            out[kind] += lines
            out[f'{kind}_stmts'] += stmts
        out['check_functions'] += sum(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and bool(set(n.name.lower().split('_')) & set(CHECK_NAMES))
            for n in ast.walk(tree))
    out['own_exceptions'] = len(_own_errors(trees))
    for unit in ('', '_stmts'):
        out[f'non_model_per_model{unit}'] = (
            out[f'library{unit}'] - out[f'model{unit}']) / out[f'model{unit}']
        out[f'raise_assert_per_1000{unit}'] = \
            1000 * out['raise_assert'] / out[f'library{unit}']
    return dict(out)


def count(repo=REPO):
    """Code lines per part.

    Args:
        repo (Path): The repository root.

    Returns:
        dict[str, int]: Code lines of each part (see :func:`counted_files`).
    """
    per_part = defaultdict(int)
    for part, path in counted_files(repo):
        per_part[part] += file_code_lines(path)
    return dict(per_part)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--total', action='store_true', help='print the total only')
    parser.add_argument(
        '--files',
        nargs='+',
        metavar='FILE',
        help='count these files only: a line "<count> <file>" each')
    parser.add_argument(
        '--core',
        action='store_true',
        help='the core path of issue 82 (CORE): a line per file and the '
        'total')
    parser.add_argument(
        '--checks',
        metavar='FOLDER',
        help='code lines and check lines (check_lines) of the package '
        'folder FOLDER (e.g. models; or a directory path), and their ratio')
    parser.add_argument(
        '--figures',
        action='store_true',
        help='the figures of issue 105 (package, library, model, utils, '
        'non-model per model line, raise + assert per 1,000 library lines, '
        'own exception classes, check-named functions)')
    args = parser.parse_args()
    if args.figures:
        fig = figures()
        for name in ('package', 'library', 'model', 'utils',
                     'non_model_per_model', 'raise_assert_per_1000'):
            lines, stmts = fig[name], fig[f'{name}_stmts']
            fmt = '{:.0f}' if lines > 100 else '{:.2f}'
            print(f'{name:24s} {fmt.format(lines):>8s} code lines '
                  f'{fmt.format(stmts):>8s} statements')
        print(f'{"own_exceptions":24s} {fig["own_exceptions"]:8.0f}')
        print(f'{"check_functions":24s} {fig["check_functions"]:8.0f}')
        return
    if args.checks:
        folder = REPO / 'stmixer_mm' / args.checks  # else a path
        folder = folder if folder.is_dir() else Path(args.checks).resolve()
        files = sorted(folder.rglob('*.py'))
        texts = [p.read_text(encoding='utf-8') for p in files]
        code = sum(python_code_lines(t) for t in texts)
        checks = sum(python_check_lines(t) for t in texts)
        shown = folder.relative_to(REPO) if REPO in folder.parents else \
            folder
        print(f'{shown}: {code} code lines, {checks} check lines '
              f'({100 * checks / code:.1f} %)')
        return
    if args.files or args.core:
        files = args.files or core_files()
        counts = [file_code_lines(name) for name in files]
        for lines, name in zip(counts, files):
            print(
                lines,
                Path(name).resolve().relative_to(REPO) if args.core else name)
        if args.core:
            print(sum(counts), 'total')
        return
    per_part = count()
    if not args.total:
        for part, lines in sorted(per_part.items()):
            print(f'{part:28s} {lines:6d}')
    print(f'{"total":28s} {sum(per_part.values()):6d}')


if __name__ == '__main__':
    main()
