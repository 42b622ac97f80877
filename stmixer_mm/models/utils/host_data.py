"""Tensors of host (Python) data on a device without waiting for it."""
from typing import Any, Optional

import torch
from torch import Tensor


def host_tensor(data: Any,
                device: torch.device,
                dtype: Optional[torch.dtype] = None) -> Tensor:
    """``torch.tensor(data, dtype=dtype, device=device)``, copied to the
    device with ``non_blocking=True``.

    ``torch.tensor(data, device='cuda')`` and ``t.new_tensor(data)`` copy
    with ``non_blocking=False``, which waits for the CUDA stream, i.e. for
    every kernel queued before (a host synchronisation in the middle of the
    forward, issue 33). A non-blocking copy of a fresh (pageable) CPU
    tensor is staged by the driver at once and queued on the stream, so the
    host does not wait. On the CPU it is ``torch.tensor``.
    """
    return torch.tensor(data, dtype=dtype).to(device, non_blocking=True)
