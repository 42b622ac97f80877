"""Generate ``forecasting_pin.pt``: the forecast decoder's losses and
predictions on fixed weights, pinned before forecasting moved from the core
package to ``projects/forecasting/`` (issue 113; generated on the code of
commit 10f08e0, where the decoder was the core's ``STMixerHeadsDecoder``).
Regenerate only when a change of the numbers is intended:

    OMP_NUM_THREADS=1 .venv/bin/python \
        tests/test_projects/data/generate_forecasting_pin.py
"""
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # projects.*
# the suite's helpers as ``tests.*`` (a 'tests' package of site-packages
# would shadow the repository's folder)
sys.modules['tests'] = types.ModuleType('tests')
sys.modules['tests'].__path__ = [str(ROOT / 'tests')]
from tests.test_projects import forecasting_helpers  # noqa: E402


def main() -> None:
    """Write the pin."""
    run, pin = forecasting_helpers.run, forecasting_helpers.PIN
    runs = {
        v: run(v, 'STMixerForecastDecoder')
        for v in forecasting_helpers.VARIANTS
    }
    torch.save(runs, pin)
    print({
        v: {
            k: round(float(t), 5)
            for k, t in p['losses'].items()
        }
        for v, p in runs.items()
    })


if __name__ == '__main__':
    main()
