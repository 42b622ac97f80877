"""Names of the layouts before 0.1.0 (``stmixer_mm.moved``, issue 113):
0.1.0 is unreleased, so an old name does not import; it fails with an error
naming its new place, found by the package's own modules (a rename or a
move to a project by the table). Nothing of the package is on
``sys.meta_path``, and ``stmixer_mm.utils`` is a leaf."""
import subprocess
import sys
from pathlib import Path

import pytest

from stmixer_mm.apis.config_files import load_config
from stmixer_mm.moved import PROJECTS, RENAMED, new_module
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checks import ConfigSettingError


@pytest.mark.parametrize('old, new', [
    ('stmixer_mm.cli.entry_points', 'stmixer_mm.apps.cli.entry_points'),
    ('stmixer_mm.data_gen.scene', 'stmixer_mm.apps.data_gen.scene'),
    ('stmixer_mm.datasets.importers', 'stmixer_mm.apps.importers'),
    ('stmixer_mm.apis.web_demo.server', 'stmixer_mm.apps.web_demo.server'),
    ('stmixer_mm.apis.online', 'stmixer_mm.apps.online'),
    ('stmixer_mm.models.utils.checks', 'stmixer_mm.utils.checks'),
    ('stmixer_mm.deployment', 'stmixer_mm.apps.deployment'),
    ('stmixer_mm.benchmarks.common', 'stmixer_mm.apps.benchmarks.common'),
    ('stmixer_mm.apis.tracker', 'stmixer_mm.apis.greedy_tracker'),
    ('stmixer_mm.utils.settings', 'stmixer_mm.apps.preflight'),
    ('stmixer_mm.models.trackers.query_tracker',
     'projects/track_queries of the repository'),
    ('stmixer_mm.datasets.transforms.forecast',
     'projects/forecasting of the repository'),
    ('stmixer_mm.models.roi_heads.mask_heads.stmixer_mask_head',
     'projects/actor_masks of the repository'),
    ('stmixer_mm.datasets.mask_rle', 'projects/actor_masks of the repository'),
    ('stmixer_mm.models.layers.query_interaction',
     'projects/track_queries of the repository'),
    ('stmixer_mm.no_such_module', None),
])
def test_an_old_module_is_found_where_it_is_now(old, new):
    assert new_module(old) == new


def test_every_rename_leads_to_a_module_or_a_project():
    for old in RENAMED:
        __import__(new_module(old))
    for project in PROJECTS.values():
        assert (Path(repo_root()) / project / 'README.md').is_file(), project


def test_an_old_name_fails_naming_its_place():
    """In a fresh interpreter: an old name read from its package fails
    naming where it is defined, an old module naming where it moved (Python
    words ``from <package> import <name>`` itself, and ``import a.b.c`` of
    an old module: told by the config loader for ``custom_imports``); a
    name defined nowhere keeps Python's error; nothing of the package is on
    sys.meta_path."""
    code = '''
import sys
import stmixer_mm.apis
assert not [f for f in sys.meta_path
            if type(f).__module__.startswith('stmixer_mm')], sys.meta_path
for line in ('stmixer_mm.apis.OnlineRunner',
             'from stmixer_mm.engine import build_runner',
             'from stmixer_mm.apis import online',
             'stmixer_mm.apis.NoSuchName',
             'import stmixer_mm.cli.train',
             'getattr(stmixer_mm.apis, "OnlineRunner", None)'):
    try:
        print(repr(eval(line)) if 'import' not in line else exec(line))
    except (ImportError, AttributeError) as e:
        print(type(e).__name__, e)
'''
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=repo_root(),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "AttributeError module 'stmixer_mm.apis' has no attribute "
        "'OnlineRunner' (it is defined in stmixer_mm.apps.online.runner)",
        "ImportError cannot import name 'build_runner' from "
        "'stmixer_mm.engine' "
        f"({Path(repo_root(), 'stmixer_mm', 'engine', '__init__.py')})",
        'ImportError stmixer_mm.apis.online is no longer there: it moved to '
        'stmixer_mm.apps.online',
        "AttributeError module 'stmixer_mm.apis' has no attribute "
        "'NoSuchName'",
        "ModuleNotFoundError No module named 'stmixer_mm.cli'",
        'None',  # a probe with a default still probes
    ]


def test_a_config_importing_an_old_module_is_told_where_it_is(tmp_path):
    cfg = tmp_path / 'old.py'
    cfg.write_text("custom_imports = dict(imports=['stmixer_mm.cli.train'])\n")
    with pytest.raises(
            ConfigSettingError,
            match=r'\(stmixer_mm.cli moved to stmixer_mm.apps.cli\)$'):
        load_config(str(cfg))


@pytest.mark.parametrize('name, folder', [
    ('quickstart/stmixer-mask_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb.py',
     'projects/actor_masks/configs'),
    ('stmixer_tubes/stmixer_mask_vit_base_p16_videomae_k400_pre_8xb1_16x2x1_'
     '12e_adamw_jhmdb21_rgb.py', 'projects/actor_masks/configs'),
    ('quickstart/stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-'
     'forecast-rgb.py', 'projects/forecasting/configs'),
])
def test_a_packaged_name_of_a_moved_config_names_the_project(name, folder):
    """Issue 113: a config that went to a project is refused by its old
    packaged name, naming the project's configs folder (the file itself
    where the old name is the file's own spelling)."""
    with pytest.raises(FileNotFoundError) as e:
        load_config(f'stmixer_mm::{name}')
    said = str(e.value)
    assert f'moved out of the package to {folder}/' in said, said
    if '-' in name:
        assert (Path(repo_root()) / folder / name.split('/')[1]).is_file()
        assert f'{folder}/{name.split("/")[1]} of the repository' in said
