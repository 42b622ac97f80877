"""Tensors of host (Python) data on a device without waiting for it."""
from typing import Any, Optional

import torch
from torch import Tensor


def host_tensor(data: Any,
                device: torch.device,
                dtype: Optional[torch.dtype] = None) -> Tensor:
    """``torch.tensor(data, dtype=dtype, device=device)`` copied with
    ``non_blocking=True``: ``device='cuda'`` would wait for the stream (a
    host sync mid-forward)."""
    return torch.tensor(data, dtype=dtype).to(device, non_blocking=True)
