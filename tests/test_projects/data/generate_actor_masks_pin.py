"""Generate ``actor_masks_pin.pt``: the mask head's losses, masks and export
outputs on fixed weights, pinned before the actor masks move from the core
package to ``projects/actor_masks/`` (issue 113; generated on the core's
``STMixerHeadsDecoder`` and ``STMixerMaskHead``). Regenerate only when a
change of the numbers is intended:

    OMP_NUM_THREADS=1 .venv/bin/python \
        tests/test_projects/data/generate_actor_masks_pin.py
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


def main() -> None:
    """Write the pin."""
    from mmengine.registry import init_default_scope

    import stmixer_mm  # noqa: F401 (the registries)
    init_default_scope('mmdet')
    got = actor_masks_helpers.run('STMixerHeadsDecoder')
    torch.save(got, actor_masks_helpers.PIN)
    print({k: round(float(v), 5) for k, v in got['losses'].items()})


if __name__ == '__main__':
    main()
