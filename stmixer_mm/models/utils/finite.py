"""The check that a decoder stage's training outputs are finite."""
from typing import Dict, Optional

import numpy as np
import torch
from torch import Tensor

__all__ = ['check_finite_stage_outputs', 'finite_flags']

#: the outputs checked, with their names in the message
OUTPUTS = (('person_logits', 'person logits'), ('bboxes', 'boxes'),
           ('action_logits', 'action logits'))


def finite_flags(stage_results: Dict[str, Tensor]) -> Tensor:
    """Whether each checked output is finite, on the device."""
    return torch.stack([
        torch.isfinite(stage_results[key].detach()).all() for key, _ in OUTPUTS
    ])


def check_finite_stage_outputs(stage: int,
                               stage_results: Dict[str, Tensor],
                               flags: Optional[np.ndarray] = None) -> None:
    """Stop a diverged training naming the stage and the output (before
    scipy's matching fails on 'matrix contains invalid numeric entries').
    ``flags``: :func:`finite_flags` on the host if already read.

    Args:
        stage (int): The decoder stage, for the message.
        stage_results (dict[str, Tensor]): Its outputs (``person_logits``,
            ``bboxes``, ``action_logits``).
        flags (np.ndarray, optional): :func:`finite_flags` read to the
            host, ``(3, )`` bool; computed (a sync) when None.

    Raises:
        FloatingPointError: Naming the first non-finite output.
    """
    if flags is None:
        flags = finite_flags(stage_results).cpu().numpy()
    if bool(np.all(flags)):
        return
    for key, what in OUTPUTS:
        value = stage_results[key].detach()
        finite = torch.isfinite(value)
        if not bool(finite.all()):
            raise FloatingPointError(
                f'non-finite predictions in training: the {what} '
                f'({key}) of decoder stage {stage} have '
                f'{int((~finite).sum())} NaN/Inf values of '
                f'{value.numel()}; the training diverged (lower the '
                'learning rate, clip gradients, or check the inputs)')
