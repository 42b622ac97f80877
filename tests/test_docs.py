"""The documentation is plain Markdown whose references hold.

Every relative link in ``README.md``, ``docs/**/*.md`` and the config
folders' ``README.md`` must point to a file of the repository (and, for a
``#fragment`` into a Markdown file, to one of its headings); no page may
point outside the repository (the project's machines have folders beside
the checkout, such as ``../shared``, that a user's clone does not); a path
of the repository written as inline code (``tools/...``, ``configs/...``)
must exist; the README keeps the two quick-start commands; ``LICENSE``
matches ``setup.cfg``'s license field.
"""
import configparser
import re
import unicodedata
from pathlib import Path

import pytest

from stmixer_mm.testing import repo_root

ROOT = Path(repo_root())
DOCS = sorted([
    ROOT / 'README.md', *(ROOT / 'docs').rglob('*.md'),
    *(ROOT / 'configs').glob('*/README.md')
])

FENCE = re.compile(r'^( {0,3})(```|~~~).*?^\1\2[^\n]*$', re.M | re.S)
CODE_SPAN = re.compile(r'(`+)(.+?)\1', re.S)
INLINE_LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?'
                         r'(?:\s+"[^"]*")?\s*\)')
REF_LINK = re.compile(r'^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)', re.M)
SCHEME = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')
# a repository path written as inline code: `tools/train.py`, `configs/x/`
REPO_PATH = re.compile(r'^(?:tools|configs|stmixer_mm|tests|docs|requirements'
                       r'|\.ci)/[\w.\-/]*$')
# made by setup.py when the package is built, not part of the checkout
GENERATED = ('stmixer_mm/.mim', )
# folders beside the checkout on the project's machines
OUTSIDE = re.compile(r'\.\./shared\b|\bshared/(?:design|wheels|hooks|seeds)\b'
                     r'|(?<![\w.])/work/')


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def _prose(text):
    """The text without fenced code blocks and inline code."""
    text = FENCE.sub('', text)
    return CODE_SPAN.sub('', text)


def _slug(heading):
    """GitHub's anchor of a heading."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading.strip())
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)  # links: their text
    text = text.lower()
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in ' -_' or cat[0] in 'LN':
            kept.append(ch)
    return ''.join(kept).replace(' ', '-')


def _anchors(path):
    seen = {}
    anchors = set()
    for line in FENCE.sub('', path.read_text()).splitlines():
        m = re.match(r'^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$', line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f'{slug}-{n}')
    return anchors


def _links(path):
    prose = _prose(path.read_text())
    return INLINE_LINK.findall(prose) + REF_LINK.findall(prose)


def test_docs_are_found():
    names = {_rel(p) for p in DOCS}
    for page in ('README.md', 'docs/en/index.md', 'docs/en/get_started.md',
                 'docs/en/train_test.md', 'docs/en/datasets.md',
                 'docs/en/useful_tools.md', 'docs/en/deployment.md',
                 'docs/en/benchmarks.md', 'docs/en/changelog.md'):
        assert page in names, page


@pytest.mark.parametrize('path', DOCS, ids=_rel)
def test_relative_links_resolve(path):
    problems = []
    for target in _links(path):
        if SCHEME.match(target):
            continue
        file_part, _, fragment = target.partition('#')
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.is_relative_to(ROOT):
            problems.append(f'{target}: outside the repository')
            continue
        if not dest.exists():
            problems.append(f'{target}: no such file ({_rel(dest)})')
            continue
        if fragment and dest.suffix == '.md' \
                and fragment not in _anchors(dest):
            problems.append(f'{target}: no heading #{fragment} in '
                            f'{_rel(dest)}')
    assert not problems, f'{_rel(path)}: ' + '; '.join(problems)


@pytest.mark.parametrize('path', DOCS, ids=_rel)
def test_no_reference_outside_the_repository(path):
    text = path.read_text()
    hits = [m.group(0) for m in OUTSIDE.finditer(text)]
    for m in CODE_SPAN.finditer(FENCE.sub('', text)):
        span = m.group(2).strip()
        if span.startswith('../') and re.fullmatch(r'[\w.\-/]+', span) and \
                not (path.parent / span).resolve().is_relative_to(ROOT):
            hits.append(span)
    assert not hits, f'{_rel(path)} refers outside the repository: {hits}'


@pytest.mark.parametrize('path', DOCS, ids=_rel)
def test_repository_paths_in_code_exist(path):
    missing = []
    for m in CODE_SPAN.finditer(path.read_text()):
        span = m.group(2).strip()
        if not REPO_PATH.match(span) or span.startswith(GENERATED):
            continue
        if not (ROOT / span).exists():
            missing.append(span)
    assert not missing, f'{_rel(path)} names paths that do not exist: ' \
        f'{sorted(set(missing))}'


def test_readme_quick_start_commands():
    text = (ROOT / 'README.md').read_text()
    m = re.search(r'^## Quick start\n(.*?)(?=^## )', text, re.M | re.S)
    assert m, 'README.md has no "## Quick start" section'
    block = re.search(r'```bash\n(.*?)```', m.group(1), re.S)
    assert block, 'no bash block in the Quick start section'
    commands = [
        line.strip() for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith('#')
    ]
    assert commands == ['bash tools/quickstart.sh', 'bash tools/run_tests.sh']
    for command in commands:
        assert (ROOT / command.split()[1]).is_file(), command


def test_license_matches_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    assert cfg['metadata']['license'] == 'Apache-2.0'
    text = (ROOT / 'LICENSE').read_text()
    assert text.lstrip().startswith('Apache License\n'
                                    '                           Version 2.0')
    assert 'END OF TERMS AND CONDITIONS' in text


def _resolve(dotted):
    """Import the longest module prefix of ``dotted``, then getattr; a
    config module (``stmixer_mm.configs.*``, read by mmengine, not
    importable) is found by its file."""
    import importlib
    parts = dotted.split('.')
    if parts[:2] == ['stmixer_mm', 'configs']:
        path = ROOT.joinpath(*parts)
        if not (path.with_suffix('.py').is_file() or path.is_dir()):
            raise ModuleNotFoundError(f'no config module {dotted}')
        return path
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def _history(path):
    """Whether ``path`` is a history page (the changelog, a note, the bad
    inputs' table of rounds), which names earlier layouts too."""
    return path.name in ('changelog.md', 'bad_inputs.md') or \
        'notes' in path.parts


def _pointed(name, error):
    """Whether the old ``name`` has a pointer to where it is now (issue
    113): its error names the place, or a module prefix of it moved."""
    from stmixer_mm.moved import new_module
    parts = name.split('.')
    return 'defined in' in str(error) or 'moved to' in str(error) or any(
        new_module('.'.join(parts[:k])) for k in range(len(parts), 1, -1))


def test_python_names_in_docs_exist():
    """Every ``stmixer_mm.x.y`` the pages name imports or is an attribute;
    a history page's name of an earlier layout has a pointer instead."""
    names = {}
    for path in DOCS:
        for name in re.findall(r'\bstmixer_mm(?:\.[A-Za-z_]\w*)+',
                               path.read_text()):
            names[name] = names.get(name, True) and _history(path)
    missing = []
    for name, history in sorted(names.items()):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as e:
            if not (history and _pointed(name, e)):
                missing.append(f'{name} ({type(e).__name__}: {e})')
    assert not missing, 'names in the docs that do not exist: ' + \
        '; '.join(missing)


def _linked(index):
    return {(index.parent / t.partition('#')[0]).resolve()
            for t in _links(index) if not SCHEME.match(t)}


def test_index_links_every_page():
    index = ROOT / 'docs' / 'en' / 'index.md'
    linked = _linked(index)
    pages = set((ROOT / 'docs' / 'en').glob('*.md')) - {index}
    orphans = sorted(_rel(p) for p in pages if p.resolve() not in linked)
    assert not orphans, f'docs/en/index.md does not link {orphans}'


def test_notes_index_links_every_note():
    """What earlier runs measured lives in docs/en/notes/, every page of it
    linked from its index, the index from docs/en/index.md (issue 105)."""
    notes = ROOT / 'docs' / 'en' / 'notes'
    index = notes / 'index.md'
    assert index.resolve() in _linked(ROOT / 'docs' / 'en' / 'index.md')
    linked = _linked(index)
    orphans = sorted(
        _rel(p) for p in set(notes.rglob('*.md')) - {index}
        if p.resolve() not in linked)
    assert not orphans, f'docs/en/notes/index.md does not link {orphans}'


#: the most lines a page of docs/en may have (issue 105): a page opens with
#: what a user does and gives today's numbers; what earlier runs measured
#: and wrote goes to docs/en/notes/, split by topic or period
MAX_PAGE_LINES = 400


@pytest.mark.parametrize(
    'path', sorted((ROOT / 'docs' / 'en').rglob('*.md')), ids=_rel)
def test_pages_are_short(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_PAGE_LINES, (
        f'{_rel(path)} has {lines} lines, more than {MAX_PAGE_LINES}: keep '
        'what a user does and today\'s numbers, and move the history to a '
        'page of docs/en/notes/ (linked from docs/en/notes/index.md)')


# --- the pip form beside every checkout command (issue 97) ---------------

#: the scripts of a checkout that a pip install has as console commands
#: (``stmixer_mm.apps.cli.commands.TOOLS``; the demo's second script)
PIP_PAGES = [
    p for p in DOCS
    if p.name not in ('changelog.md',
                      'bad_inputs.md') and p.parent.name != 'configs'
]


def _console_commands():
    from stmixer_mm.apps.cli.commands import TOOLS
    scripts = {path: console for console, path in TOOLS.values()}
    scripts['demo/demo_spatiotemporal_det.py'] = 'stmixer-demo'
    return scripts


def checkout_commands(text):
    """``(first line, last line, pip form)`` of each command (a line of a
    fenced block that starts with it) that runs a checkout script having a
    console command
    (continuation lines joined); the pip form is the console command with
    ``configs/`` paths as ``stmixer_mm::`` names, on one line, without the
    command's trailing comment. A command on a config of ``projects/``
    (run from a checkout, as mmdet's projects) has none."""
    scripts = _console_commands()
    command = re.compile(r'^python (' + '|'.join(map(re.escape, scripts)) +
                         r')(?=\s|$)')  # a shell line, not printed output
    lines, out, fenced, i = text.split('\n'), [], False, 0
    while i < len(lines):
        if lines[i].lstrip().startswith(('```', '~~~')):
            fenced = not fenced
        elif fenced and command.match(lines[i]):
            j = i
            while lines[j].rstrip().endswith('\\'):
                j += 1
            words = ' '.join(line.rstrip().rstrip('\\').strip()
                             for line in lines[i:j +
                                               1]).split('  #')[0].split()
            script = command.match(lines[i]).group(1)
            if any(w.startswith('projects/') for w in words):
                i = j + 1
                continue
            words[:2] = [scripts[script]]
            form = ' '.join(
                re.sub(r'^(--config=)?configs/', r'\1stmixer_mm::', w)
                for w in words)
            out.append((i, j, form))
            i = j
        i += 1
    return out


def pip_line(command_line, form):
    """The line that follows a checkout command: its pip form, as a
    comment indented like the command."""
    indent = command_line[:len(command_line) - len(command_line.lstrip())]
    return f'{indent}# pip install: {form}'


@pytest.mark.parametrize('path', PIP_PAGES, ids=_rel)
def test_every_checkout_command_shows_its_pip_form(path):
    """Each command of a checkout script that a pip install has as a
    console command (``python tools/train.py configs/x.py``) is followed
    by its pip form (``# pip install: stmixer-train stmixer_mm::x.py``)."""
    lines = path.read_text().split('\n')
    missing = [
        f'line {i + 1}: expected {pip_line(lines[i], form)!r}'
        for i, j, form in checkout_commands('\n'.join(lines))
        if j + 1 >= len(lines) or lines[j + 1] != pip_line(lines[i], form)
    ]
    assert not missing, missing


def test_the_pip_form_check_sees_a_missing_form():
    text = ('```bash\npython tools/train.py configs/a/b.py \\\n'
            '    --work-dir w  # note\n```\n')
    ((i, j, form), ) = checkout_commands(text)
    assert (i, j) == (1, 2)
    assert form == 'stmixer-train stmixer_mm::a/b.py --work-dir w'
