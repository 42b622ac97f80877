"""The mask head's losses, masks and export outputs equal those pinned
before the actor masks move to ``projects/actor_masks/``
(``data/generate_pins.py``)."""
import pytest
import torch

from tests.test_projects.actor_masks_helpers import PIN, run

pytestmark = pytest.mark.usefixtures('mmdet_scope')


def test_the_mask_head_equals_the_pin():
    ref = torch.load(PIN)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # (as generated: the convolutions' sums)
    try:
        got = run('STMixerMaskDecoder')
    finally:
        torch.set_num_threads(threads)
    assert list(got['losses']) == list(ref['losses'])
    assert {'s1.loss_mask', 's1.loss_dice'} <= set(ref['losses'])
    for key, value in ref['losses'].items():
        torch.testing.assert_close(got['losses'][key], value, rtol=0, atol=0)
    assert sorted(got) == sorted(ref)
    assert ref['pred0.masks'].dtype == torch.bool and ref['pred0.masks'].any()
    for key in ref:
        if key != 'losses':
            torch.testing.assert_close(got[key], ref[key], rtol=0, atol=0)
