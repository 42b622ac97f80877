"""The reference forecasts on perfect detections of the forecastable set
(stmixer_mm.benchmarks.forecast, tools/experiments/forecast_references.py).
"""
from stmixer_mm.benchmarks.forecast import reference_rows


def test_table():
    title, *rows = reference_rows('forecast', horizons=(8, ))
    assert title[0].startswith('motion=forecast seed=0')
    by_name = {row[1]: row for row in rows}
    assert sorted(by_name) == ['constant_velocity', 'oracle', 'zero_motion']
    # perfect detections at t + h: the oracle is perfect
    assert by_name['oracle'][2] == '100.0'
    # copying the present misses what the precursors announce
    assert float(by_name['zero_motion'][2]) < 90
    assert float(by_name['zero_motion'][5]) < 90  # anticipation mAP
