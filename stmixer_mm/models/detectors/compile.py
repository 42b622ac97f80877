"""The captured inference path of STMixer (``compile_cfg``): the static part
of ``predict`` through ``torch.compile``, post-processing eager, an eager
fallback after one warning where it cannot apply (docs/en/gpu.md)."""
import warnings
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

#: modes of ``torch.compile`` that capture CUDA graphs
CUDA_GRAPH_MODES = ('reduce-overhead', 'max-autotune')
#: the modes ``compile_cfg.mode`` may name
COMPILE_MODES = ('default', 'max-autotune-no-cudagraphs') + CUDA_GRAPH_MODES
#: defaults of ``compile_cfg``
COMPILE_DEFAULTS = dict(
    mode='reduce-overhead', backend='inductor', fullgraph=False)


def _call_key(batch_inputs: Tensor, img_shapes: tuple) -> tuple:
    """What a compiled graph is specialised on."""
    return (tuple(batch_inputs.shape), batch_inputs.dtype,
            str(batch_inputs.device), img_shapes, torch.is_grad_enabled(),
            torch.is_autocast_enabled(batch_inputs.device.type))


class CompiledPredict:
    """The static part of a detector's ``predict`` through ``torch.compile``.

    Args:
        compile_cfg (dict): ``mode``, ``backend``, ``fullgraph``.
    """

    def __init__(self, compile_cfg: dict) -> None:
        self.cfg = cfg = dict(COMPILE_DEFAULTS)
        cfg.update(compile_cfg if isinstance(compile_cfg, dict) else {})
        if not isinstance(compile_cfg, dict) or set(cfg) != set(
                COMPILE_DEFAULTS) or cfg['mode'] not in COMPILE_MODES or \
                not isinstance(cfg['backend'], str) or \
                not isinstance(cfg['fullgraph'], bool):
            raise ValueError(
                'STMixer: compile_cfg must be a dict of mode (one of '
                f'{COMPILE_MODES}), backend (a string) and fullgraph (True '
                f'or False), got {compile_cfg!r}')
        self._fn = self._key = None
        self._failed: Optional[str] = None
        self._warned = set()
        #: why the last call ran eagerly, or None
        self.last_fallback: Optional[str] = None

    def why_not(self, model, batch_inputs: Tensor,
                img_shapes: tuple) -> Optional[str]:
        """Why the compiled path does not apply to this call, or None.

        Args:
            model (nn.Module): The detector (its ``training`` flag).
            batch_inputs (Tensor): Clips ``(B, 3, T_in, H, W)``.
            img_shapes (tuple): ``(H, W)`` of every clip without padding.

        Returns:
            str | None: The reason (an earlier compilation failure, training
            mode, a CUDA-graph mode off CUDA, or a clip size, dtype or
            device other than the compiled one), or None.
        """
        if self._failed is not None:
            return self._failed
        mode = self.cfg['mode']
        if model.training:
            return ('model.compile_cfg: the model is in training mode (only '
                    'predict is compiled)')
        if mode in CUDA_GRAPH_MODES and batch_inputs.device.type != 'cuda':
            return (f"model.compile_cfg.mode='{mode}' captures CUDA graphs, "
                    'which need a CUDA device; the inputs are on '
                    f"{batch_inputs.device.type} (mode='default' compiles "
                    'without them)')
        key = _call_key(batch_inputs, img_shapes)
        if self._key is not None and key != self._key:
            return (f'model.compile_cfg: the clip size, dtype or device '
                    f'{key[:4]} differs from the one compiled for '
                    f'{self._key[:4]}; the compiled path is for one static '
                    'clip size (dynamic shapes run eagerly)')
        return None

    def __call__(self, model, batch_inputs: Tensor,
                 img_shapes: tuple) -> Optional[Dict[str, Tensor]]:
        """The last stage's outputs from the compiled part, or None.

        Compiles ``model.static_forward`` at the first call; a failure
        there warns once and falls back for good (a later one raises).

        Args:
            model (nn.Module): The detector.
            batch_inputs (Tensor): Clips ``(B, 3, T_in, H, W)``.
            img_shapes (tuple): ``(H, W)`` of every clip without padding.

        Returns:
            dict[str, Tensor] | None: ``model.static_forward``'s outputs
            (copies under a CUDA-graph mode), or None where
            :meth:`why_not` gives a reason (warned once per reason).
        """
        reason = self.why_not(model, batch_inputs, img_shapes)
        if reason is None:
            try:
                if self._fn is None:
                    self._fn = torch.compile(
                        model.static_forward, dynamic=False, **self.cfg)
                out = self._fn(batch_inputs, img_shapes)
            except Exception as e:  # noqa: B902 compilers fail in many ways
                if self._key is not None:
                    raise
                reason = self._failed = (
                    f"model.compile_cfg: torch.compile (backend="
                    f"'{self.cfg['backend']}', mode='{self.cfg['mode']}') "
                    f'failed: {type(e).__name__}: {str(e).splitlines()[0]}')
        self.last_fallback = reason
        if reason is not None:
            if reason not in self._warned:
                self._warned.add(reason)
                warnings.warn(f'{reason}; predict runs eagerly', stacklevel=2)
            return None
        self._key = _call_key(batch_inputs, img_shapes)
        if self.cfg['mode'] in CUDA_GRAPH_MODES:
            # CUDA-graph outputs are overwritten by the next replay
            out = {k: v.clone() for k, v in out.items()}
        return out


def img_shapes_of(batch_data_samples: Sequence) -> Tuple[Tuple[int, int], ...]:
    """``(H, W)`` of every sample's ``img_shape``, as a hashable tuple."""
    return tuple(
        tuple(int(v) for v in s.metainfo['img_shape'][:2])
        for s in batch_data_samples)


class ShapeSample:
    """A data sample holding only ``metainfo['img_shape']``: a plain object, so
    ``torch.compile`` guards on its values (``InstanceData`` deep-copies).

    Args:
        img_shape (tuple[int, int]): ``(H, W)`` of the whole frame.
    """

    def __init__(self, img_shape: Tuple[int, int]) -> None:
        self.metainfo = dict(img_shape=img_shape)
