"""Pointers from the names of the layouts before 0.1.0 to where they are
now. 0.1.0 is unreleased (issue 113): a moved name is not kept working
under its old name, it fails with an error naming its new place.

Where a name went is found, not listed: a module whose path ends as the old
one's did (``stmixer_mm.cli.train`` is ``stmixer_mm.apps.cli.train``), a
name that another module of the package defines. :data:`RENAMED` lists
the renames a search cannot find, :data:`PROJECTS` the words of the modules
that went to a project, :data:`MOVED_CONFIGS` the packaged configs that
did.
"""
import re
from pathlib import Path
from typing import Dict, Optional

#: old module (its sub-modules with it) -> new module
RENAMED: Dict[str, str] = {
    f'stmixer_mm.{old}': f'stmixer_mm.{new}'
    for old, new in (('visualization.dataset_browser',
                      'apps.dataset_doctor.browser'),
                     ('visualization.action_drawing', 'apps.json_logs'),
                     ('apis.online.tracker', 'apis.greedy_tracker'),
                     ('apis.tracker',
                      'apis.greedy_tracker'), ('utils.settings',
                                               'apps.preflight'),
                     ('converters.tool_utils',
                      'apps.converter_tools'), ('datasets.dataset_checks',
                                                'apps.dataset_doctor'),
                     ('datasets.dataset_checks.ava',
                      'datasets.ava_files'), ('models.layers.sampling.mmcv_op',
                                              'ops.multi_scale_deform_attn'))
}
#: a word of the old modules that went to a project -> the project
PROJECTS: Dict[str, str] = {
    'mask': 'projects/actor_masks',
    'forecast': 'projects/forecasting',
    'trackers': 'projects/track_queries',
    'query_interaction': 'projects/track_queries'
}
#: the packaged configs (``stmixer_mm::<folder>/<config>.py``) that moved
#: to a project of the repository: the start of their file names (``-``
#: for ``_`` in the pure-Python spelling) -> the project's configs folder
MOVED_CONFIGS: Dict[str, str] = {
    'stmixer-forecast': 'projects/forecasting/configs',
    'stmixer-mask': 'projects/actor_masks/configs',
}


def _modules() -> Dict[str, Path]:
    """``{module: file}`` of every module of the package (read, not
    imported)."""
    root = Path(__file__).parent
    files = sorted(root.rglob('*.py'))
    names = ('.'.join(f.relative_to(root.parent).with_suffix('').parts)
             for f in files)
    return {n.replace('.__init__', ''): f for n, f in zip(names, files)}


def new_module(old: str) -> Optional[str]:
    """Where the module ``old`` is now, or None (nowhere known).

    Args:
        old (str): A dotted module name of an earlier layout.

    Returns:
        str | None: Its module now (:data:`RENAMED`, else the module whose
        path ends as the longest end of ``old``), or where it went.
    """
    for prefix in sorted(RENAMED, key=len, reverse=True):
        if old == prefix or old.startswith(prefix + '.'):
            return RENAMED[prefix] + old[len(prefix):]
    for word, project in PROJECTS.items():
        if word in old:
            return f'{project} of the repository'
    parts, modules = old.split('.'), _modules()
    for start in range(1, len(parts)):
        tail = '.' + '.'.join(parts[start:])
        found = [m for m in modules if m.endswith(tail) and m != old]
        if found:
            return found[0]
    return None


def moved_error(module: str, name: str) -> Exception:
    """The error of reading ``<module>.<name>``, which it does not have,
    naming where it is now (for a package's ``__getattr__``).

    Args:
        module (str): The package read (``'stmixer_mm.apis'``).
        name (str): The attribute read.

    Returns:
        Exception: For a moved module, an ImportError naming where it is
        now; else an AttributeError naming the modules that define
        ``name`` (their source read, nothing imported), if any (an
        AttributeError, so that ``getattr(<module>, name, default)`` still
        probes).
    """
    old, where = f'{module}.{name}', ''
    if not name.startswith('_') and old not in _modules():
        moved = new_module(old)
        if moved is not None:  # a module: ``from <module> import <name>``
            return ImportError(
                f'{old} is no longer there: it moved to {moved}', name=module)
        defined = re.compile(rf'^(def|class) {name}\b|^{name}\b *[:=]', re.M)
        where = ', '.join(m for m, f in _modules().items()
                          if defined.search(f.read_text(encoding='utf-8')))
    said = f' (it is defined in {where})' if where else ''
    return AttributeError(
        f'module {module!r} has no attribute {name!r}{said}', name=name)
