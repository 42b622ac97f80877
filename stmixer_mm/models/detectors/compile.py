"""The captured paths of STMixer: inference (``compile_cfg``: the static
part of ``predict`` through ``torch.compile``, post-processing eager) and
training (``graph_train_cfg``: the training forward and its backward
replayed as CUDA graphs, the matching and losses eager); an eager fallback
after one warning where they cannot apply (docs/en/gpu.md)."""
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from stmixer_mm.utils.checks import (check_choice, check_compile_args,
                                     check_ints)

#: modes of ``torch.compile`` that capture CUDA graphs
CUDA_GRAPH_MODES = ('reduce-overhead', 'max-autotune')
#: defaults of ``compile_cfg``
COMPILE_DEFAULTS = dict(
    mode='reduce-overhead', backend='inductor', fullgraph=False)


def _settings(name: str, given: dict, defaults: dict) -> dict:
    """``defaults`` updated by the config ``given`` (of their keys only), as
    :func:`check_compile_args` takes them; else a ValueError naming
    ``model.<name>``."""
    check_compile_args(f'STMixer: {name}', given, defaults)
    return dict(defaults, **given)


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
        self.cfg = _settings('compile_cfg', compile_cfg, COMPILE_DEFAULTS)
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


#: defaults of ``graph_train_cfg``
GRAPH_TRAIN_DEFAULTS = dict(
    mode='reduce-overhead', backend='inductor', max_shapes=8, on_cpu=False)


class GraphedTraining:
    """The detector's training forward (backbone, neck, every decoder stage)
    through ``torch.compile`` with CUDA graphs (``mode='reduce-overhead'``:
    inductor's CUDA-graph trees capture the forward and its backward once per
    input shape and replay them); the queries' boxes, the matching and the
    losses stay eager on the variable-length targets.

    A batch shape runs eagerly the first time it is seen (most shapes seen
    once never come back) and is compiled at its second; at most
    ``max_shapes`` shapes are compiled (Dynamo's recompile limit is 8), the
    others run eagerly. Where it cannot apply (not CUDA, several processes,
    no gradients, a mask or forecast head, ``compile_stages``, an earlier
    compilation failure) the step runs eagerly, with one warning per reason
    (on the CPU one log line: CPU training is unchanged).

    Args:
        graph_train_cfg (dict): ``mode`` and ``backend`` of
            ``torch.compile``, ``max_shapes`` (int >= 1) and ``on_cpu``
            (compile on the CPU too, without CUDA graphs).
    """

    def __init__(self, graph_train_cfg: dict) -> None:
        self.cfg = cfg = _settings('graph_train_cfg', graph_train_cfg,
                                   GRAPH_TRAIN_DEFAULTS)
        where = 'STMixer: graph_train_cfg'
        check_ints(where, max_shapes=cfg['max_shapes'])
        check_choice(where, (True, False), on_cpu=cfg['on_cpu'])
        self._fn = None
        self._failed: Optional[str] = None
        self._seen: Dict[tuple, int] = {}
        self._compiled: set = set()
        self._said = set()
        #: why the last call ran eagerly, or None
        self.last_fallback: Optional[str] = None

    def why_not(self, model, batch_inputs: Tensor) -> Optional[str]:
        """Why this training step runs eagerly, or None (see the class)."""
        if self._failed is not None:
            return self._failed
        device = batch_inputs.device.type
        if device != 'cuda' and not (device == 'cpu' and self.cfg['on_cpu']):
            return (f'model.graph_train_cfg: the inputs are on {device}; the '
                    'training step is replayed on CUDA only (on_cpu=True '
                    'compiles it on the CPU)')
        if not torch.is_grad_enabled():
            return 'model.graph_train_cfg: gradients are off'
        if torch.distributed.is_available() and \
                torch.distributed.is_initialized() and \
                torch.distributed.get_world_size() > 1:
            return ('model.graph_train_cfg: several processes (DDP) are not '
                    'replayed (model.graph_train_cfg=None turns this off)')
        decoder = model.roi_head
        for head in ('mask_head', 'forecast_head'):
            if getattr(decoder, head, None) is not None:
                return (f'model.graph_train_cfg: the decoder has a {head}, '
                        'which reads the pyramid')
        if getattr(decoder, 'compile_stages', None) is not None:
            return ('model.graph_train_cfg: model.roi_head.compile_stages is '
                    'set (the stages are compiled on their own)')
        return None

    def _say(self, reason: str, warn: bool = True) -> None:
        if reason in self._said:
            return
        self._said.add(reason)
        if warn:
            warnings.warn(
                f'{reason}; the training step runs eagerly', stacklevel=3)
        else:
            print_log(
                f'{reason}; the training step runs eagerly', logger='current')

    def __call__(
            self, model, batch_inputs: Tensor,
            batch_data_samples: Sequence) -> Optional[List[Dict[str, Tensor]]]:
        """Every stage's outputs from the compiled training forward, or
        None (run the step eagerly; nothing computed).

        Args:
            model (nn.Module): The detector, in training mode.
            batch_inputs (Tensor): Clips ``(B, 3, T_in, H_pad, W_pad)``.
            batch_data_samples (Sequence): Per clip, metainfo
                ``img_shape`` (the queries' initial boxes).

        Returns:
            list[dict[str, Tensor]] | None: Per stage ``person_logits``,
            ``action_logits``, ``bboxes`` (see ``STMixer.train_forward``).
        """
        reason = self.why_not(model, batch_inputs)
        if reason is not None:
            self.last_fallback = reason
            # off CUDA (the CPU's eager step, unchanged): a log line only
            self._say(
                reason,
                warn=batch_inputs.device.type == 'cuda' or self.cfg['on_cpu'])
            return None
        key = _call_key(batch_inputs, ())
        if key not in self._compiled:
            self._seen[key] = seen = self._seen.get(key, 0) + 1
            if seen == 1:
                self.last_fallback = (f'model.graph_train_cfg: first batch of '
                                      f'shape {key[0]}')
                return None
            if len(self._compiled) >= self.cfg['max_shapes']:
                self.last_fallback = reason = (
                    f'model.graph_train_cfg: {self.cfg["max_shapes"]} batch '
                    'shapes are compiled already (max_shapes); others, such '
                    f'as {key[0]}, are not (pad the batches to fewer shapes: '
                    'data_preprocessor.train_pad_shapes)')
                self._say(reason)
                return None
        # the decoder's initial boxes and queries, eager: (B, N, 4) xyzr,
        # (B, N, C) spatial, (B, N, C) temporal or None
        queries = model.roi_head.queries_from_proposals(
            model.rpn_head.predict((), batch_data_samples))
        try:
            if self._fn is None:
                self._fn = torch.compile(
                    model.train_forward,
                    mode=self.cfg['mode'],
                    backend=self.cfg['backend'],
                    dynamic=False)
            if batch_inputs.device.type == 'cuda':
                torch.compiler.cudagraph_mark_step_begin()
            out = self._fn(batch_inputs, *queries)
        except Exception as e:  # noqa: B902 compilers fail in many ways
            if self._compiled:
                raise
            self._failed = reason = (
                f"model.graph_train_cfg: torch.compile (backend="
                f"'{self.cfg['backend']}', mode='{self.cfg['mode']}') "
                f'failed: {type(e).__name__}: {str(e).splitlines()[0]}')
            self.last_fallback = reason
            self._say(reason)
            return None
        self._compiled.add(key)
        self.last_fallback = None
        return out


#: the compiled stage calls, one per ``compile_stages`` setting
_COMPILED_STAGE_CALLS: Dict[str, Callable] = {}


def _call_stage(stage, *args):
    """``stage(*args)``: the function compiled for every stage."""
    return stage(*args)


def compiled_stage_call(compile_args: dict) -> Callable:
    """:func:`_call_stage` through ``torch.compile(**compile_args)``, built
    once per setting (the stages share its graphs: their parameters are
    graph inputs).

    Args:
        compile_args (dict): Arguments of ``torch.compile``.

    Returns:
        callable: ``call(stage, *args)``.
    """
    key = repr(sorted(compile_args.items()))
    if key not in _COMPILED_STAGE_CALLS:
        _COMPILED_STAGE_CALLS[key] = torch.compile(_call_stage, **compile_args)
    return _COMPILED_STAGE_CALLS[key]
