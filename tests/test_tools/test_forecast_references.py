"""tools/experiments/forecast_references.py: the reference forecasts on
perfect detections of the forecastable set."""
import importlib.util

from stmixer_mm.testing import repo_path


def _tool():
    spec = importlib.util.spec_from_file_location(
        'forecast_references',
        repo_path('tools/experiments/forecast_references.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table(capsys):
    _tool().main(['--motion', 'forecast', '--horizons', '8'])
    out = capsys.readouterr().out
    rows = {
        line.split(' | ')[1]: line.split(' | ')
        for line in out.splitlines() if line.startswith('| 8 ')
    }
    assert sorted(rows) == ['constant_velocity', 'oracle', 'zero_motion']
    # perfect detections at t + h: the oracle is perfect
    assert rows['oracle'][2] == '100.0'
    # copying the present misses what the precursors announce
    assert float(rows['zero_motion'][2]) < 90
    assert float(rows['zero_motion'][5]) < 90  # anticipation mAP
