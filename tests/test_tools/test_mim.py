"""OpenMMLab's ``mim`` on this package: a wheel built from the working tree
ships ``stmixer_mm/.mim/{configs,tools,model-index.yml}`` (setup.py), and
with it installed ``mim search / train / test / run stmixer_mm`` work (tiny
fixture config, 1 epoch, CPU).

The wheel is installed into a temporary ``--target`` folder put first on
``PYTHONPATH``, so the test neither touches the environment's (editable)
install nor the source tree: the build runs on a copy of the files git
tracks or would track.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(REPO, 'tests', 'data', 'configs',
                    'tiny_stmixer_tiny-ava.py')
QUICKSTART = 'stmixer_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb.py'
MIM = shutil.which('mim', path=osp.dirname(sys.executable)) or \
    shutil.which('mim')

pytestmark = pytest.mark.skipif(
    MIM is None, reason='openmim not installed (requirements/tests.txt)')


def _run(cmd, env, cwd, check=True, timeout=600):
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout)
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
    files = subprocess.run(
        ['git', 'ls-files', '-co', '--exclude-standard'],
        cwd=REPO, capture_output=True, text=True,
        check=True).stdout.splitlines()
    for f in files:
        if not osp.isfile(osp.join(REPO, f)):
            continue  # deleted in the working tree
        os.makedirs(osp.dirname(src / f), exist_ok=True)
        shutil.copy2(osp.join(REPO, f), src / f)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               CUDA_VISIBLE_DEVICES='')
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
          '--no-build-isolation', '-q', '-w', str(root / 'dist'), str(src)],
         env, str(root))
    wheel = next((root / 'dist').glob('stmixer_mm-*.whl'))
    site = root / 'site'
    _run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q',
          '--target', str(site), str(wheel)], env, str(root))
    env['PYTHONPATH'] = str(site)
    work = root / 'cwd'  # not the repository: nothing found by accident
    work.mkdir()
    return env, site, str(work), wheel


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


def test_mim_search(installed):
    env, _, cwd, _ = installed
    out = _run([MIM, 'search', 'stmixer_mm'], env, cwd).stdout
    assert 'stmixer_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb' in out
    assert 'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_' \
        'ava22-rgb' in out


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
    out = _run([MIM, 'run', 'stmixer_mm', 'print_config', TINY_CFG],
               env, cwd).stdout
    assert "type='STMixer'" in out


def test_mim_finds_packaged_configs(installed, tmp_path):
    """A config name alone resolves to the package's copy (the run then
    stops at the data, which this test does not have)."""
    env, site, cwd, _ = installed
    proc = _run([
        MIM, 'train', 'stmixer_mm', QUICKSTART, '--gpus', '0', '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', 'train_cfg.max_epochs=0'
    ], env, cwd, check=False, timeout=300)
    expected = osp.join(str(site), 'stmixer_mm', '.mim', 'configs',
                        'quickstart', QUICKSTART)
    assert f'will use {expected}' in proc.stdout.replace('\n', '')
