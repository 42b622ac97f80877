import os.path as osp

import pytest

from stmixer_mm.testing import repo_root
from stmixer_mm.utils import dependencies as deps


def test_installed_stack_passes():
    assert deps.check_dependencies() == []


def _fake_versions(monkeypatch, **override):
    real = deps._installed

    def fake(dist):
        return override.get(dist, real(dist))

    monkeypatch.setattr(deps, '_installed', fake)


def test_wrong_mmcv_is_a_clear_error(monkeypatch):
    _fake_versions(monkeypatch, mmcv='2.2.0')
    with pytest.raises(ImportError) as e:
        deps.check_dependencies()
    msg = str(e.value)
    assert 'mmcv==2.2.0' in msg and '<2.2.0' in msg
    assert 'tools/setup_env.sh' in msg


@pytest.mark.parametrize('version', ['2.4.1', '2.6.0+cu124'])
def test_torch_older_than_the_code_needs_is_refused(monkeypatch, version):
    """torch 2.7: ``torch._dynamo.config.recompile_limit``; 2.5:
    ``torch.serialization.safe_globals`` (read in their wheels)."""
    _fake_versions(monkeypatch, torch=version)
    with pytest.raises(ImportError) as e:
        deps.check_dependencies()
    assert f'torch=={version} is installed, stmixer_mm needs torch>=2.7' \
        in str(e.value)
    _fake_versions(monkeypatch, torch='2.7.0')
    deps.check_dependencies()


@pytest.mark.parametrize('dist, version', [('torch', 'nightly'),
                                           ('mmdet', 'dev-main')])
def test_a_version_that_is_no_pep_440_version_is_named(monkeypatch, dist,
                                                       version):
    """A source build's version string that ``packaging`` cannot parse is
    named as that package's (was ``InvalidVersion`` without a name)."""
    _fake_versions(monkeypatch, **{dist: version})
    with pytest.raises(ImportError) as e:
        deps.check_dependencies()
    assert f"{dist}=={version} is installed: '{version}' is no PEP 440 " \
        'version, so it cannot be checked against' in str(e.value)


def test_missing_package_is_named(monkeypatch):
    _fake_versions(monkeypatch, mmdet=None)
    with pytest.raises(ImportError, match='mmdet is not installed'):
        deps.check_dependencies()


def test_soft_problem_warns(monkeypatch, mm_log_records):
    _fake_versions(monkeypatch, setuptools='82.0.0')
    problems = deps.check_dependencies()
    assert len(problems) == 1
    # one warning line through mmengine's logger
    warned = [
        r for r in mm_log_records if 'setuptools==82.0.0' in r.getMessage()
    ]
    assert len(warned) == 1 and warned[0].levelname == 'WARNING'
    with pytest.raises(ImportError, match='setuptools'):
        deps.check_dependencies(strict=True)


# --- the imported cv2 (issue 22 item 6) -----------------------------------


def _fake_opencv(monkeypatch, dists, cv2_version):
    real = deps._installed

    def fake(dist):
        if dist in deps.OPENCV_DISTS:
            return dists.get(dist)
        return real(dist)

    monkeypatch.setattr(deps, '_installed', fake)
    monkeypatch.setattr(
        deps, '_imported_cv2', lambda: (cv2_version, '/site/cv2/__init__.py')
        if cv2_version else (None, 'ImportError: libGL.so.1'))


def test_opencv5_mixed_with_4x_is_an_error(monkeypatch):
    # what `pip install -r requirements/runtime.txt` gave before: mmaction2
    # pulled opencv-contrib-python 5.0 over opencv-python 4.x; OpenCV 5
    # itself is accepted (issue 84), the mixed cv2/ folder is not
    _fake_opencv(monkeypatch, {
        'opencv-python': '4.14.0.94',
        'opencv-contrib-python': '5.0.0.93'
    }, '5.0.0')
    hard, _ = deps.check_opencv()
    assert len(hard) == 1
    assert 'different versions' in hard[0]
    assert 'opencv-contrib-python==5.0.0.93' in hard[0]
    assert 'pip uninstall -y opencv-python opencv-contrib-python' in hard[0]
    with pytest.raises(ImportError, match='different versions'):
        deps.check_dependencies()


def test_opencv5_alone_is_accepted(monkeypatch):
    # the GPU image's wheel (issue 84): mmcv 2.1, mmdet 3.3, mmaction2 1.2
    # and this package import and run with it
    _fake_opencv(monkeypatch, {'opencv-python-headless': '5.0.0.93'}, '5.0.0')
    assert deps.check_opencv() == ([], [])


def test_opencv_below_4_5_is_refused(monkeypatch):
    _fake_opencv(monkeypatch, {'opencv-python': '4.2.0.34'}, '4.2.0')
    hard, _ = deps.check_opencv()
    assert len(hard) == 1 and '>=4.5' in hard[0], hard


def test_opencv_single_4x_is_clean(monkeypatch):
    _fake_opencv(monkeypatch, {'opencv-python': '4.14.0.94'}, '4.14.0')
    assert deps.check_opencv() == ([], [])


def test_opencv_mixed_4x_versions_is_an_error(monkeypatch):
    _fake_opencv(monkeypatch, {
        'opencv-python': '4.10.0.84',
        'opencv-contrib-python': '4.14.0.94'
    }, '4.14.0')
    hard, _ = deps.check_opencv()
    assert len(hard) == 1 and 'mixes their files' in hard[0]


def test_opencv_same_version_twice_warns(monkeypatch, mm_log_records):
    # what `pip install stmixer_mm` gives (both held to 4.x by setup.cfg)
    _fake_opencv(monkeypatch, {
        'opencv-python': '4.14.0.94',
        'opencv-contrib-python': '4.14.0.94'
    }, '4.14.0')
    hard, soft = deps.check_opencv()
    assert hard == [] and len(soft) == 1 and 'share cv2/' in soft[0]
    # the fix it gives leaves mmengine's opencv-python at that version
    assert soft[0].endswith(
        'pip uninstall -y opencv-contrib-python && pip install '
        '--force-reinstall --no-deps opencv-python==4.14.0.94')
    assert deps.one_opencv_command({'opencv-contrib-python': '4.12.0.88',
                                    'opencv-python': '4.12.0.88',
                                    'opencv-python-headless': '4.12.0.90'}) \
        == ('pip uninstall -y opencv-contrib-python opencv-python-headless '
            '&& pip install --force-reinstall --no-deps '
            'opencv-python==4.12.0.88')
    # only headless wheels (a server without libGL): the headless one stays
    assert deps.one_opencv_command({
        'opencv-contrib-python-headless': '4.12.0.88',
        'opencv-python-headless': '4.12.0.88'
    }) == ('pip uninstall -y opencv-contrib-python-headless && pip install '
           '--force-reinstall --no-deps opencv-python-headless==4.12.0.88')
    assert deps.check_dependencies() == soft
    assert any('share cv2/' in r.getMessage() for r in mm_log_records)
    # the setup self-check (strict) wants one OpenCV
    with pytest.raises(ImportError, match='share cv2/'):
        deps.check_dependencies(strict=True)


def test_cv2_not_importable_is_an_error(monkeypatch):
    _fake_opencv(monkeypatch, {'opencv-python': '4.14.0.94'}, None)
    with pytest.raises(ImportError, match='cv2 does not import'):
        deps.check_dependencies()


def test_mmcv_without_ops_is_an_error(monkeypatch):
    real = deps.importlib.util.find_spec
    monkeypatch.setattr(
        deps.importlib.util, 'find_spec', lambda name, *a: None
        if name == 'mmcv._ext' else real(name, *a))
    with pytest.raises(ImportError, match='without its compiled'):
        deps.check_dependencies()


# --- one list of supported versions ---------------------------------------


def _requirements(lines):
    from packaging.requirements import Requirement
    reqs = {}
    for line in lines:
        line = line.split('#', 1)[0].strip()
        if line:
            r = Requirement(line)
            reqs[r.name] = str(r.specifier)
    return reqs


def _spec(s):
    from packaging.specifiers import SpecifierSet
    return SpecifierSet(s)


def test_packaging_states_the_checked_ranges():
    """setup.cfg's install_requires and requirements/mminstall.txt give the
    ranges the import-time check accepts; runtime.txt's pins lie in them."""
    import configparser
    import os.path as osp
    repo = repo_root()
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(repo, 'setup.cfg'))
    install = _requirements(cfg['options']['install_requires'].splitlines())
    with open(osp.join(repo, 'requirements', 'mminstall.txt')) as f:
        mim = _requirements(f)
    with open(osp.join(repo, 'requirements', 'runtime.txt')) as f:
        runtime = _requirements(f)
    assert 'mmaction2' not in runtime  # installed --no-deps
    with open(osp.join(repo, 'requirements', 'nodeps.txt')) as f:
        runtime.update(_requirements(f))
    for dist in ('mmengine', 'mmcv', 'mmdet', 'mmaction2'):
        spec = _spec(deps.PINNED[dist][0])
        assert _spec(install[dist]) == spec, dist
        assert _spec(mim[dist]) == spec, dist
        pinned = _spec(runtime[dist])
        assert str(pinned).startswith('=='), dist
        assert next(iter(pinned)).version in spec, dist
        assert deps.TESTED[dist] in spec, dist
    # setuptools < 82 at run time (pkg_resources for mmdet::/mmaction::)
    assert '82.0' not in _spec(install['setuptools'])
    assert '82.0' not in _spec(deps.PINNED['setuptools'][0])
    # OpenCV: both wheels held to the checked major version; the tested
    # set (runtime.txt, no mmaction2 dependencies) has one
    for dist in ('opencv-python', 'opencv-contrib-python'):
        assert '4.14.0' in _spec(install[dist])
        assert '5.0.0' not in _spec(install[dist])
    assert 'opencv-contrib-python' not in runtime


def _without(monkeypatch, *modules):
    """Make ``modules`` look uninstalled to :func:`deps.require_extra`."""
    import importlib.util
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        deps.importlib.util, 'find_spec', lambda name, *a: None
        if name in modules else find_spec(name, *a))


def test_a_missing_extra_names_the_pip_install(monkeypatch):
    """Issue 73, item 1: an optional feature without its extra stops with
    the feature, the missing modules and the extra to install; the pre-run
    check names the config setting."""
    from stmixer_mm.apps.preflight import check_config
    from stmixer_mm.utils.checks import ConfigSettingError
    _without(monkeypatch, 'decord', 'trackeval', 'onnxruntime')
    with pytest.raises(ModuleNotFoundError) as e:
        deps.require_extra('onnx', 'the ONNX export', ('onnx', 'onnxruntime'))
    assert str(e.value) == ('the ONNX export needs onnxruntime, which is not '
                            'installed: pip install "stmixer_mm[onnx]"')
    deps.require_extra('onnx', 'the ONNX export', ('onnx', ))  # installed
    pipeline = [dict(type='mmaction.DecordInit'), dict(type='DecordDecode')]
    cfg = dict(
        train_dataloader=dict(dataset=dict(pipeline=pipeline)),
        val_evaluator=dict(
            type='TubeMetric',
            ann_file='gt.pkl',  # not read by the pre-run check
            protocol='ucf_jhmdb',
            trackeval_score_thr=None))
    with pytest.raises(
            ConfigSettingError,
            match=r'^train_dataloader\.dataset'
            r'\.pipeline\[0\]\.type=DecordInit needs '
            r'decord, .*"stmixer_mm\[multisports\]"'):
        check_config(cfg)
    del pipeline[:]
    check_config(cfg)  # trackeval_score_thr not set: trackeval not needed
    cfg['val_evaluator']['trackeval_score_thr'] = 0.5
    with pytest.raises(
            ConfigSettingError,
            match=r'^val_evaluator\.trackeval_score_thr needs trackeval'):
        check_config(cfg)


def test_every_extra_is_declared_with_the_tests_pins():
    """setup.py's extras are the features of ``EXTRAS``, read from
    requirements/<extra>.txt, which name each module's distribution; the
    tests install the same pins (requirements/tests.txt)."""
    repo = repo_root()
    with open(osp.join(repo, 'setup.py')) as f:
        setup = f.read()
    with open(osp.join(repo, 'requirements', 'tests.txt')) as f:
        tests = f.read()
    for extra, modules in deps.EXTRAS.items():
        assert f"'{extra}': read_requirements('{extra}')" in setup, extra
        names = [
            line.split('==')[0]
            for line in _lines(osp.join(repo, 'requirements', f'{extra}.txt'))
        ]
        assert sorted(names) == sorted(modules), extra
        assert f'-r {extra}.txt' in tests, extra
    from stmixer_mm.apps.preflight import TYPE_EXTRAS
    for extra, _ in TYPE_EXTRAS.values():
        assert extra in deps.EXTRAS


def _lines(path):
    with open(path) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]
