"""OpenMMLab's ``mim`` on this package: a wheel built from the working tree
ships ``stmixer_mm/.mim/{configs,tools,model-index.yml}`` (setup.py), and
with it installed ``mim search / train / test / run stmixer_mm`` work (tiny
fixture config, 1 epoch, CPU); it also ships the new-style configs
``stmixer_mm/configs``, which a config outside the repository inherits.

The wheel is installed into a temporary ``--target`` folder put first on
``PYTHONPATH``, so the test neither touches the environment's (editable)
install nor the source tree: the build runs on a copy of the files git
tracks or would track.

The README's editable environment (``tools/setup_env.sh``) is rebuilt in a
throw-away virtualenv that sees this environment's packages: an editable
install alone leaves mim nothing under ``<site-packages>/stmixer_mm``, the
link that ``setup_env.sh`` adds makes ``mim search`` work.

Every config under ``configs/`` must have a metafile entry with FLOPs and
parameters (the metafiles say how they were computed).
"""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest
import yaml

from stmixer_mm.testing import copy_source_tree, repo_root

REPO = repo_root()
TINY_CFG = osp.join(REPO, 'tests', 'data', 'configs',
                    'tiny_stmixer_tiny-ava.py')
QUICKSTART = 'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py'
MIM = shutil.which('mim', path=osp.dirname(sys.executable)) or \
    shutil.which('mim')

needs_mim = pytest.mark.skipif(
    MIM is None, reason='openmim not installed (requirements/tests.txt)')
MODEL_DIRS = ('stmixer', 'stmixer_tubes', 'quickstart')


def _all_configs():
    """Every model config (not ``_base_``), as ``configs/<dir>/<name>.py``."""
    out = []
    for d in MODEL_DIRS:
        for f in sorted(os.listdir(osp.join(REPO, 'configs', d))):
            if f.endswith('.py'):
                out.append(f'configs/{d}/{f}')
    return out


def _index_models():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for meta in index['Import']:
        with open(osp.join(REPO, meta)) as f:
            models.extend(yaml.safe_load(f)['Models'])
    return models


def _test_clip_len(cfg):
    from mmengine.config import Config
    pipeline = Config.fromfile(osp.join(REPO, cfg)).test_dataloader.dataset
    return next(t['clip_len'] for t in pipeline.pipeline if 'clip_len' in t)


def test_every_config_in_the_index_with_flops_and_params():
    models = _index_models()
    by_config = {m['Config']: m for m in models}
    assert len(by_config) == len(models), 'a config is listed twice'
    configs = _all_configs()
    assert sorted(by_config) == sorted(configs)
    for cfg in configs:
        m = by_config[cfg]
        assert m['Name'] == osp.basename(cfg)[:-3], cfg
        md = m['Metadata']
        assert md['Parameters'].endswith('M'), cfg
        assert float(md['Parameters'][:-1]) > 0, cfg
    with_flops = [c for c in configs if 'FLOPs' in by_config[c]['Metadata']]
    for cfg in with_flops:
        md = by_config[cfg]['Metadata']
        flops, macs = float(md['FLOPs'][:-1]), float(md['MACs'][:-1])
        assert md['FLOPs'].endswith('G') and abs(flops - 2 * macs) <= \
            0.011 * flops + 0.01, cfg
        b, c, t, h, w = map(int, md['FLOPs Input'].split('x'))
        # one RGB clip of the test pipeline's length
        assert (b, c, t) == (1, 3, _test_clip_len(cfg)), cfg


@pytest.mark.slow
def test_quickstart_flops_and_params_are_current():
    """The quick-start entry's numbers are what get_flops.py gives now."""
    from mmengine.config import Config

    from stmixer_mm.apps.benchmarks.flops import build_detector, count_flops
    by_config = {m['Config']: m for m in _index_models()}
    cfg = f'configs/quickstart/{QUICKSTART}'
    md = by_config[cfg]['Metadata']
    shape = [int(v) for v in md['FLOPs Input'].split('x')[2:]]
    detector = build_detector(Config.fromfile(osp.join(REPO, cfg)))
    res = count_flops(detector, shape)
    params = sum(p.numel() for p in detector.parameters())
    assert md['FLOPs'] == f'{res["total"] / 1e9:.2f}G'
    assert md['Parameters'] == f'{params / 1e6:.2f}M'


def _run(cmd, env, cwd, check=True, timeout=600):
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f'{" ".join(cmd)} exited with {proc.returncode}\n'
                    f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(env, site dir, cwd) with the freshly built wheel first on the
    path."""
    root = tmp_path_factory.mktemp('mim')
    src = root / 'src'
    copy_source_tree(src)
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='')
    _run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w',
        str(root / 'dist'),
        str(src)
    ], env, str(root))
    wheel = next((root / 'dist').glob('stmixer_mm-*.whl'))
    site = root / 'site'
    _run([
        sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
        str(site),
        str(wheel)
    ], env, str(root))
    env['PYTHONPATH'] = str(site)
    work = root / 'cwd'  # not the repository: nothing found by accident
    work.mkdir()
    return env, site, str(work), wheel


@needs_mim
def test_wheel_ships_mim_folder(installed):
    _, site, _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert 'stmixer_mm/.mim/model-index.yml' in names
    assert f'stmixer_mm/.mim/configs/quickstart/{QUICKSTART}' in names
    for tool in ('train.py', 'test.py', 'slurm_train.sh',
                 'misc/print_config.py'):
        assert f'stmixer_mm/.mim/tools/{tool}' in names
    # the index only names metafiles that are shipped too
    mim_dir = site / 'stmixer_mm' / '.mim'
    for line in (mim_dir / 'model-index.yml').read_text().splitlines():
        if line.strip().startswith('- configs/'):
            assert (mim_dir / line.strip()[2:]).is_file(), line


NEW_STYLE_CHILD = (
    'from mmengine.config import read_base\n'
    'with read_base():\n'
    '    from stmixer_mm.configs.quickstart.'
    'stmixer_r3d_tiny_1xb8_8x2x1_36e_synthetic_ava_rgb import *\n'
    'model.roi_head.num_stages = 2\n')
BUILD_CHILD = """
import sys
from mmengine.config import Config
from mmengine.registry import DefaultScope
import stmixer_mm
from stmixer_mm.registry import MODELS
cfg = Config.fromfile(sys.argv[1])
with DefaultScope.overwrite_default_scope(cfg.default_scope):
    model = MODELS.build(cfg.model)
print(stmixer_mm.__file__)
print(type(model).__name__, len(model.roi_head.stages),
      cfg.model.roi_head.stage_head.hidden_channels)
"""


def test_wheel_ships_new_style_configs(installed, tmp_path):
    """``stmixer_mm/configs`` (new-style configs) is in the wheel, and a
    config outside the repository inherits one from the installed package
    (``with read_base(): from stmixer_mm.configs... import *``)."""
    env, site, cwd, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    for name in ('quickstart/stmixer_r3d_tiny_1xb8_8x2x1_36e_synthetic_ava_'
                 'rgb.py', '_base_/models/stmixer_head.py',
                 '_base_/default_runtime.py'):
        assert f'stmixer_mm/configs/{name}' in names
    child = tmp_path / 'my_stmixer.py'
    child.write_text(NEW_STYLE_CHILD)
    proc = _run([sys.executable, '-c', BUILD_CHILD, str(child)], env, cwd)
    imported, built = proc.stdout.strip().splitlines()[-2:]
    assert imported.startswith(str(site))
    assert built == 'STMixer 2 64'


@needs_mim
def test_mim_search(installed):
    env, _, cwd, _ = installed
    out = _run([MIM, 'search', 'stmixer_mm'], env, cwd).stdout
    assert 'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb' in out
    assert 'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_' \
        'ava22-rgb' in out
    # mim's table is 80 characters wide and its key column as wide as the
    # longest field (metric names: '<dataset>/<metric>'): every field
    # shows its value
    fields = [
        line for line in out.splitlines()
        if line and not line.startswith(('config id:', '---'))
    ]
    empty = [
        line for line in fields
        if not re.match(r'^\S.*?\S {2,}\S', line.rstrip())
    ]
    assert fields and not empty, empty[:5]
    assert 'synthetic ava/map' in out and 'epochs' in out
    # every config, the tube ones included
    names = [osp.basename(c)[:-3] for c in _all_configs()]
    out = _run([MIM, 'search', 'stmixer_mm', '--field', 'config'],
               dict(env, COLUMNS='1000'), cwd).stdout
    for name in names:  # mim shortens the config column, not the id
        assert f'config id: {name}\n' in out, name


@needs_mim
@pytest.mark.slow
def test_mim_search_in_editable_environment(tmp_path):
    """tools/setup_env.sh step 5 (editable install + link of
    <site-packages>/stmixer_mm) in a fresh virtualenv that sees this
    environment's packages through a .pth file."""
    # COLUMNS: mim's table (rich) must not wrap the long config names
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='',
        COLUMNS='1000')
    env.pop('PYTHONPATH', None)
    src = tmp_path / 'src'
    copy_source_tree(src)
    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', '--without-pip',
          str(venv)], env, str(tmp_path))
    vpy = str(venv / 'bin' / 'python')
    site = _run([
        vpy, '-c', 'import sysconfig; '
        "print(sysconfig.get_paths()['purelib'])"
    ], env, str(tmp_path)).stdout.strip()
    with open(osp.join(site, 'outer.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    _run([
        vpy, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation',
        '-e',
        str(src)
    ], env, str(tmp_path))
    # setup.py linked the repository's configs/tools/index in develop mode
    assert osp.islink(src / 'stmixer_mm' / '.mim' / 'configs')
    search = [vpy, '-m', 'mim', 'search', 'stmixer_mm', '--field', 'config']
    work = tmp_path / 'cwd'
    work.mkdir()
    # the editable install alone: mim looks under <site-packages>/stmixer_mm
    proc = _run(search, env, str(work), check=False)
    assert proc.returncode != 0
    assert 'model-index.yml' in proc.stdout + proc.stderr
    # what tools/setup_env.sh adds
    with open(osp.join(REPO, 'tools', 'setup_env.sh')) as f:
        assert 'ln -sfn "$REPO/stmixer_mm" "$SITE/stmixer_mm"' in f.read()
    os.symlink(src / 'stmixer_mm', osp.join(site, 'stmixer_mm'))
    out = _run(search, env, str(work)).stdout
    for cfg in _all_configs():
        assert f'config id: {osp.basename(cfg)[:-3]}\n' in out, cfg
    # and the plugin imports from the source tree (the module an import
    # would load, found without running the package's import: seconds)
    out = _run([
        vpy, '-c', 'import os, importlib.util; print(os.path.realpath('
        "importlib.util.find_spec('stmixer_mm').origin))"
    ], env, str(work)).stdout
    assert str(src / 'stmixer_mm' / '__init__.py') in out


@needs_mim
@pytest.mark.slow
def test_mim_train_test_run(installed, tmp_path):
    env, site, cwd, _ = installed
    work = str(tmp_path / 'work')
    out = _run([
        MIM, 'train', 'stmixer_mm', TINY_CFG, '--gpus', '0', '--work-dir',
        work, '--cfg-options', 'train_cfg.max_epochs=1'
    ], env, cwd).stdout
    assert osp.isfile(osp.join(work, 'epoch_1.pth')), out[-2000:]
    out = _run([
        MIM, 'test', 'stmixer_mm', TINY_CFG, '--checkpoint',
        osp.join(work, 'epoch_1.pth'), '--gpus', '0', '--work-dir',
        str(tmp_path / 'test')
    ], env, cwd).stdout
    assert 'mAP/overall' in out
    # mim run finds tools in sub-folders of the shipped tools/
    out = _run([MIM, 'run', 'stmixer_mm', 'print_config', TINY_CFG], env,
               cwd).stdout
    assert "type='STMixer'" in out


@needs_mim
def test_mim_finds_packaged_configs(installed, tmp_path):
    """A config name alone resolves to the package's copy (the run then
    stops at the data, which this test does not have)."""
    env, site, cwd, _ = installed
    proc = _run([
        MIM, 'train', 'stmixer_mm', QUICKSTART, '--gpus', '0', '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', 'train_cfg.max_epochs=1'
    ],
                env,
                cwd,
                check=False,
                timeout=300)
    expected = osp.join(
        str(site), 'stmixer_mm', '.mim', 'configs', 'quickstart', QUICKSTART)
    assert f'will use {expected}' in proc.stdout.replace('\n', '')
