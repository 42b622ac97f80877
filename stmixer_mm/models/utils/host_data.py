"""Tensors of host (Python) data on a device without waiting for it."""
from typing import Any, Optional

import torch
from torch import Tensor


def host_tensor(data: Any,
                device: torch.device,
                dtype: Optional[torch.dtype] = None) -> Tensor:
    """``torch.tensor(data, dtype=dtype, device=device)`` copied with
    ``non_blocking=True``: ``torch.tensor(data, device='cuda')`` would wait for
    the CUDA stream (a host sync mid-forward); a fresh pageable CPU tensor is
    staged by the driver and queued, so the host does not wait."""
    return torch.tensor(data, dtype=dtype).to(device, non_blocking=True)
