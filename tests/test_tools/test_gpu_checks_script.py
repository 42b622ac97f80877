"""``tools/gpu/run_gpu_checks.sh`` on the CPU: the names its embedded
Python imports from ``stmixer_mm`` and the scripts and configs it runs
exist (a renamed function cost one device call of issue 63)."""
import importlib
import os.path as osp
import re

import pytest

from stmixer_mm.testing import repo_root

SCRIPT = osp.join(repo_root(), 'tools', 'gpu', 'run_gpu_checks.sh')


def _text():
    with open(SCRIPT) as f:
        return f.read()


@pytest.mark.parametrize(
    'module, names',
    sorted(
        set(
            re.findall(r'^from (stmixer_mm[\w.]*) import ([\w, ]+)$', _text(),
                       re.M))))
def test_embedded_imports_resolve(module, names):
    mod = importlib.import_module(module)
    for name in names.split(','):
        assert hasattr(mod, name.strip()), f'{module}.{name.strip()}'


def test_scripts_and_configs_exist():
    text = _text()
    paths = set(re.findall(r'\b((?:tools|configs)/[\w./-]+\.(?:py|sh))', text))
    assert len(paths) >= 8
    missing = [p for p in paths if not osp.exists(osp.join(repo_root(), p))]
    assert not missing
