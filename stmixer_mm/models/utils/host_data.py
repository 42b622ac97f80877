"""Tensors of host (Python) data on a device without waiting for it."""
from typing import Any, Optional

import torch
from torch import Tensor


def host_tensor(data: Any,
                device: torch.device,
                dtype: Optional[torch.dtype] = None) -> Tensor:
    """``torch.tensor(data, dtype=dtype, device=device)`` copied with
    ``non_blocking=True``: ``device='cuda'`` would wait for the stream (a
    host sync mid-forward).

    Args:
        data (Any): Python numbers or nested lists of them.
        device (torch.device): Where the tensor goes.
        dtype (torch.dtype, optional): Defaults to torch's inference.

    Returns:
        Tensor: ``data`` on ``device``.
    """
    return torch.tensor(data, dtype=dtype).to(device, non_blocking=True)
