"""The model inside mmengine's model wrappers (DDP, FSDP, ...)."""
from mmengine.model import is_model_wrapper
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a model wrapper (DDP, ...), else ``model`` itself.

    Args:
        model (nn.Module): A model or its wrapper.

    Returns:
        nn.Module: The wrapped module, or ``model``.
    """
    return model.module if is_model_wrapper(model) else model
