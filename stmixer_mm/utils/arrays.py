"""Arrays of model outputs."""
from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A tensor (any device, detached) or an array-like as a numpy array."""
    if hasattr(x, 'detach'):
        return x.detach().cpu().numpy()
    return np.asarray(x)
