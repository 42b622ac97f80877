"""The check that a decoder stage's training outputs are finite."""
from typing import Dict

import torch
from torch import Tensor

__all__ = ['check_finite_stage_outputs']


def check_finite_stage_outputs(stage: int,
                               stage_results: Dict[str, Tensor]) -> None:
    """Stop a diverged training with a message naming the stage and the
    output (before the Hungarian matching, which would fail inside
    scipy with 'matrix contains invalid numeric entries')."""
    outputs = (('person_logits', 'person logits'), ('bboxes', 'boxes'),
               ('action_logits', 'action logits'))
    # one host read per stage; the details only when it fails
    if bool(
            torch.stack([
                torch.isfinite(stage_results[key].detach()).all()
                for key, _ in outputs
            ]).all()):
        return
    for key, what in outputs:
        value = stage_results[key].detach()
        finite = torch.isfinite(value)
        if not bool(finite.all()):
            raise FloatingPointError(
                f'non-finite predictions in training: the {what} '
                f'({key}) of decoder stage {stage} have '
                f'{int((~finite).sum())} NaN/Inf values of '
                f'{value.numel()}; the training diverged (lower the '
                'learning rate, clip gradients, or check the inputs)')
