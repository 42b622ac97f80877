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
    """Import the longest module prefix of ``dotted``, then getattr."""
    import importlib
    parts = dotted.split('.')
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def test_python_names_in_docs_exist():
    """Every ``stmixer_mm.x.y`` the pages name imports or is an attribute."""
    names = set()
    for path in DOCS:
        names.update(
            re.findall(r'\bstmixer_mm(?:\.[A-Za-z_]\w*)+', path.read_text()))
    missing = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as e:
            missing.append(f'{name} ({type(e).__name__}: {e})')
    assert not missing, 'names in the docs that do not exist: ' + \
        '; '.join(missing)


def test_index_links_every_page():
    index = ROOT / 'docs' / 'en' / 'index.md'
    linked = {(index.parent / t.partition('#')[0]).resolve()
              for t in _links(index) if not SCHEME.match(t)}
    pages = set((ROOT / 'docs' / 'en').glob('*.md')) - {index}
    orphans = sorted(_rel(p) for p in pages if p.resolve() not in linked)
    assert not orphans, f'docs/en/index.md does not link {orphans}'
