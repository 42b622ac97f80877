"""The forecast decoder's losses and predictions equal those pinned on the
core's decoder before forecasting moved to ``projects/forecasting/``
(``data/generate_pins.py``)."""
import pytest
import torch

from tests.test_projects.forecasting_helpers import PIN, VARIANTS, run

pytestmark = pytest.mark.usefixtures('mmdet_scope')


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_the_moved_forecast_decoder_equals_the_pin(variant):
    ref = torch.load(PIN)[variant]
    got = run(variant, 'STMixerForecastDecoder')
    assert list(got['losses']) == list(ref['losses'])
    for key, value in ref['losses'].items():
        torch.testing.assert_close(got['losses'][key], value, rtol=0, atol=0)
    assert sorted(got) == sorted(ref)
    for key in ref:
        if key != 'losses':
            torch.testing.assert_close(got[key], ref[key], rtol=0, atol=0)
