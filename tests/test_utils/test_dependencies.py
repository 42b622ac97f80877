import pytest

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
    with pytest.raises(deps.DependencyError) as e:
        deps.check_dependencies()
    msg = str(e.value)
    assert 'mmcv==2.2.0' in msg and '<2.2.0' in msg
    assert 'tools/setup_env.sh' in msg


def test_missing_package_is_named(monkeypatch):
    _fake_versions(monkeypatch, mmdet=None)
    with pytest.raises(deps.DependencyError, match='mmdet is not installed'):
        deps.check_dependencies()


def test_soft_problem_warns(monkeypatch, mm_log_records):
    _fake_versions(monkeypatch, setuptools='82.0.0')
    problems = deps.check_dependencies()
    assert len(problems) == 1
    # one warning line through mmengine's logger
    warned = [r for r in mm_log_records if 'setuptools==82.0.0' in
              r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == 'WARNING'
    with pytest.raises(deps.DependencyError, match='setuptools'):
        deps.check_dependencies(strict=True)
