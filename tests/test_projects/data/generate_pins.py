"""Generate the projects' pins on fixed weights (issue 113), each pinned
before its parts moved from the core package to ``projects/``:

- ``forecasting_pin.pt``: the forecast decoder's losses and predictions
  (generated on the code of commit 10f08e0, where the decoder was the
  core's ``STMixerHeadsDecoder``);
- ``actor_masks_pin.pt``: the mask head's losses, the kept detections'
  masks, the export's mask logits and their numpy post-processing
  (generated on the code of commit 6187519, where the decoder was the
  core's ``STMixerHeadsDecoder`` and the head the core's
  ``STMixerMaskHead``, before the move to ``projects/actor_masks/``).

Regenerate one only when a change of its numbers is intended::

    OMP_NUM_THREADS=1 .venv/bin/python \\
        tests/test_projects/data/generate_pins.py forecasting|actor_masks
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
from tests.test_projects import actor_masks_helpers  # noqa: E402
from tests.test_projects import forecasting_helpers  # noqa: E402


def pin_forecasting() -> dict:
    """Both variants of the forecast decoder."""
    return {
        v: forecasting_helpers.run(v, 'STMixerForecastDecoder')
        for v in forecasting_helpers.VARIANTS
    }


#: ``{pin: (its file, its runs)}``
PINS = dict(
    forecasting=(forecasting_helpers.PIN, pin_forecasting),
    actor_masks=(actor_masks_helpers.PIN,
                 lambda: actor_masks_helpers.run('STMixerMaskDecoder')))


def main(names) -> None:
    """Write the pins ``names``."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    for name in names:
        if name not in PINS:
            raise SystemExit(f'generate_pins.py: {name!r} is not one of '
                             f'{sorted(PINS)}')
        path, runs = PINS[name]
        torch.save(runs(), path)
        print(f'wrote {path}')


if __name__ == '__main__':
    main(sys.argv[1:] or sorted(PINS))
