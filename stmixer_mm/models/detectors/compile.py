"""The captured paths of STMixer: inference (``compile_cfg``: the static
part of ``predict`` through ``torch.compile``, post-processing eager) and
training (``graph_train_cfg``: the training forward and its backward
replayed as CUDA graphs, the matching and losses eager); an eager fallback
after one warning where they cannot apply (docs/en/gpu.md)."""
import contextlib
import warnings
import weakref
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

from stmixer_mm.utils.checks import (check_choice, check_compile_args,
                                     check_ints, first_line)

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


def _head_reason(model, setting: str) -> Optional[str]:
    """Why ``model.<setting>`` does not apply: the decoder has task heads
    (``STMixerHeadsDecoder.task_heads``: they read the pyramid and the
    queries, which the compiled part keeps to itself), or None."""
    for head in getattr(model.roi_head, 'task_heads', ()):
        return (f'model.{setting}: the decoder has a {head}, which reads '
                'the pyramid')
    return None


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
            str | None: The reason (an earlier compilation failure, a task
            head, training mode, a CUDA-graph mode off CUDA, or
            a clip size, dtype or device other than the compiled one), or
            None.
        """
        reason = self._failed or _head_reason(model, 'compile_cfg')
        if reason is not None:
            return reason
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
                    f'failed: {type(e).__name__}: {first_line(e)}')
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
#: Dynamo compilations of the training forward beyond ``max_shapes`` (a
#: shape whose guards failed is compiled again, in the guard): its
#: recompile limit is raised to make room
RECOMPILE_ROOM = 8
#: why a training step ran eagerly although ``graph_train_cfg`` applies
FIRST_BATCH = 'first batch of a shape'
OVER_MAX_SHAPES = 'over max_shapes'
GUARD_FAILED = "a compiled shape's guards failed"


def _dynamo_count(group: str, key: Optional[str] = None) -> int:
    """A counter of ``torch._dynamo.utils.counters`` (``key=None``: the sum
    of the group's)."""
    from torch._dynamo.utils import counters
    return int(
        sum(counters[group].values()) if key is None else counters[group][key])


@contextlib.contextmanager
def _guarded_settings():
    """The settings of every compiled call of the training step: the
    backward lowered with the forward (a failure raised by the forward's
    call, not by ``loss.backward()``), a CUDA-graph skip raised where
    inductor compiles (``triton.cudagraph_or_error``) and no graph
    partition (a partitioned graph replays in pieces around what it leaves
    eager, which that check does not see)."""
    # (on use: importing inductor's config at the package's import would
    # load Dynamo, which adds to torch.load's allow-list)
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config
    inductor = {'triton.cudagraph_or_error': True}
    if hasattr(inductor_config, 'graph_partition'):
        inductor['graph_partition'] = False
    with functorch_config.patch(force_non_lazy_backward_lowering=True), \
            inductor_config.patch(inductor):
        yield


def _graph_node(device: torch.device) -> Optional[object]:
    """The node of inductor's CUDA-graph trees that the last call on
    ``device`` replayed in this step's generation, or None (warmed up,
    recorded, skipped, or private state that cannot be read)."""
    try:
        from torch._inductor import cudagraph_trees as trees
        manager = trees.get_manager(
            device.index
            if device.index is not None else torch.cuda.current_device(),
            create_if_none_exists=False)
        if manager is None or \
                manager.path_state != trees.ExecutionState.EXECUTION or \
                manager.current_gen != manager.get_curr_generation():
            return None
        node = manager.current_node
        return node if isinstance(node, trees.CUDAGraphNode) else None
    except Exception:  # noqa: B902 private API: read what is there
        return None


class GraphedTraining:
    """The detector's training forward (backbone, neck, every decoder stage)
    through ``torch.compile`` with CUDA graphs (``mode='reduce-overhead'``:
    inductor's CUDA-graph trees capture the forward and its backward once per
    input shape and replay them); the queries' boxes, the matching and the
    losses stay eager on the variable-length targets.

    A batch shape runs eagerly the first time it is seen (most shapes seen once
    never come back). At its second, a probe runs inside one guard on the
    step's own batch (``torch.autograd.grad``: no ``.grad`` is touched; the
    BatchNorm statistics and the CPU's random state are put back): the
    forward compiled with its backward lowered at once, then on CUDA one
    warm-up, one recording and one replay of each; the replay must run the
    forward as one root CUDA graph and the backward as its one child (no
    skip, no split: graph partition is off). Then the step's own forward
    replays. A failure of the compilation sends that shape (the run, if none
    is compiled) to the eager step, one of a recording or replay the whole
    run (the CUDA-graph tree may be half-recorded), with one warning naming
    the stage and the exception. At most ``max_shapes`` shapes are
    compiled, the others run eagerly; Dynamo's recompile limit is raised to
    ``max_shapes`` + :data:`RECOMPILE_ROOM` for the compiled function.

    Every compiled call runs under the same settings
    (:func:`_guarded_settings`); a steady call may not compile
    (``torch.compiler.set_stance('eager_on_recompile')``): a shape whose
    guards failed (a module switched between train and eval, a parameter
    frozen) runs that step eagerly and is probed again at its next batch.
    A steady step counts as replayed only when its forward and its backward
    replayed the graphs its probe recorded; one that did not (re-recorded,
    skipped) or a steady call that raised sends the rest of the run to the
    eager step, warned.

    Gradients: a replayed backward leaves its gradients in the CUDA-graph
    pool, which the next replay overwrites; a hook after each parameter's
    gradient accumulation (``register_post_accumulate_grad_hook``) notes
    the ``.grad`` of a compiled step that the step does not own, and the
    next compiled call copies those a parameter still holds before it runs,
    so accumulated gradients (``accumulative_counts > 1``,
    ``zero_grad(set_to_none=False)``, a gradient kept by a hook) live in
    buffers of their own (set to None in between: nothing is copied).

    Where it cannot apply (not CUDA, no gradients, task heads,
    ``compile_stages``, an earlier failure) the step runs eagerly, with one
    warning per reason (on the CPU one log line: CPU training is unchanged).
    Under DDP the replayed backward's gradients are all-reduced eagerly by
    DDP's own hooks; a rank that compiles keeps the others waiting in that
    all-reduce (the configs' ``env_cfg.dist_cfg.timeout`` covers it,
    docs/en/gpu.md). Every step is counted (:meth:`stats`, logged by
    ``GraphedTrainingLogHook``).

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
        #: per compiled shape on CUDA, the forward's and the backward's
        #: CUDA-graph node its probe replayed (weak references)
        self._nodes: Dict[tuple, tuple] = {}
        #: the shape of a replayed step whose backward is not checked yet
        self._awaiting: Optional[tuple] = None
        self._device: Optional[torch.device] = None
        #: shapes whose compilation was tried
        self._tried = 0
        self._said = set()
        #: the parameters hooked, and the gradients the step made its own
        self._hooked = WeakIdKeyDictionary()
        self._owned = WeakIdKeyDictionary()
        #: ``(parameter, weak .grad)`` the last backwards left (maybe in the
        #: CUDA-graph pool)
        self._pending: List[tuple] = []
        #: shapes refused after others were compiled: the reason
        self._refused: Dict[tuple, str] = {}
        #: whether the last step could replay CUDA graphs (its device and
        #: mode), and whether it ran the compiled forward
        self._replays = self._compiled_step = False
        self._ran_eagerly = False
        #: steps by how they ran: 'replayed', 'compiled' (forward and
        #: backward not both seen replaying), or the reason they ran eagerly
        self.counts: Counter = Counter()
        #: inductor's CUDA-graph skips, Dynamo's compilations of the training
        #: forward and its graph breaks during the compiled calls, and the
        #: steady calls whose guards failed
        self.cudagraph_skips = self.compilations = self.graph_breaks = 0
        self.guard_failures = 0
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
        if getattr(model.roi_head, 'compile_stages', None) is not None:
            return ('model.graph_train_cfg: model.roi_head.compile_stages is '
                    'set (the stages are compiled on their own)')
        return _head_reason(model, 'graph_train_cfg')

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

    def _eager(self, reason: str, count_as: Optional[str] = None) -> None:
        """Count a step that runs eagerly, for ``reason``."""
        self.last_fallback = reason
        self.counts[count_as or reason] += 1

    def _fail(self, reason: str) -> None:
        """The rest of the run eager, for ``reason`` (warned once)."""
        self._failed = reason
        self._say(reason)

    def _graphs(self, device: torch.device) -> bool:
        """Whether the compiled step replays CUDA graphs on ``device``."""
        return device.type == 'cuda' and self.cfg['mode'] in CUDA_GRAPH_MODES

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
        self._compiled_step = False  # (set by _run)
        self._awaiting = None
        reason = self.why_not(model, batch_inputs)
        if reason is not None:
            self._eager(reason)
            # off CUDA (the CPU's eager step, unchanged): a log line only
            self._say(
                reason,
                warn=batch_inputs.device.type == 'cuda' or self.cfg['on_cpu'])
            return None
        key = _call_key(batch_inputs, ())
        self._replays = self._graphs(batch_inputs.device)
        if key in self._refused:
            self._eager(self._refused[key])
            return None
        first = key not in self._compiled
        if first:
            self._seen[key] = seen = self._seen.get(key, 0) + 1
            if seen == 1:
                self._eager(
                    f'model.graph_train_cfg: first batch of shape {key[0]}',
                    count_as=FIRST_BATCH)
                return None
            if len(self._compiled) >= self.cfg['max_shapes']:
                reason = (
                    f'model.graph_train_cfg: {self.cfg["max_shapes"]} batch '
                    'shapes are compiled already (max_shapes); others, such '
                    f'as {key[0]}, are not (pad the batches to fewer shapes: '
                    'data_preprocessor.train_pad_shapes)')
                self._eager(reason, count_as=OVER_MAX_SHAPES)
                self._say(reason)
                return None
        # the decoder's initial boxes and queries, eager: (B, N, 4) xyzr,
        # (B, N, C) spatial, (B, N, C) temporal or None
        queries = model.roi_head.queries_from_proposals(
            model.rpn_head.predict((), batch_data_samples))
        if not first:
            return self._run(model, batch_inputs, queries, key)
        self._tried += 1
        self._own_grads(model)
        reason, whole_run = self._probe(model, batch_inputs, queries, key)
        if reason is not None:
            if whole_run or not self._compiled:
                self._fail(reason)
            else:  # this shape only
                self._refused[key] = reason
                self._say(reason)
            self._eager(reason)
            return None
        self._compiled.add(key)
        return self._run(model, batch_inputs, queries, key)

    def _forward(self, model, batch_inputs: Tensor, *queries) -> List[dict]:
        """``model.train_forward``, what is compiled; marks a call that
        Dynamo runs eagerly (a steady call whose guards failed, or its
        recompile limit reached)."""
        if not torch.compiler.is_compiling():
            self._ran_eagerly = True
        return model.train_forward(batch_inputs, *queries)

    def _call(self, model, batch_inputs: Tensor, queries: tuple):
        """One call of the compiled forward (a new CUDA-graph step) under
        :func:`_guarded_settings`, counting Dynamo's compilations and graph
        breaks and inductor's CUDA-graph skips; its outputs and the
        CUDA-graph node it replayed (None: not replayed, or no CUDA
        graphs)."""
        if self._fn is None:
            self._fn = torch.compile(
                self._forward,
                mode=self.cfg['mode'],
                backend=self.cfg['backend'],
                dynamic=False)
        graphs = self._graphs(batch_inputs.device)
        self._secure_grads()
        skips = _dynamo_count('inductor', 'cudagraph_skips')
        graphs_made = _dynamo_count('stats', 'unique_graphs')
        breaks = _dynamo_count('graph_break')
        self._ran_eagerly = False
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        limit = max(torch._dynamo.config.recompile_limit,
                    self.cfg['max_shapes'] + RECOMPILE_ROOM)
        try:
            with _guarded_settings(), torch._dynamo.config.patch(
                    recompile_limit=limit):
                out = self._fn(model, batch_inputs, *queries)
        finally:
            broke = _dynamo_count('graph_break') - breaks
            self.graph_breaks += broke
            # (a graph break adds a graph to the compilation)
            self.compilations += _dynamo_count(
                'stats', 'unique_graphs') - graphs_made - broke
            if graphs:  # (on the CPU inductor counts its graphs as skipped)
                self.cudagraph_skips += _dynamo_count(
                    'inductor', 'cudagraph_skips') - skips
        return out, _graph_node(batch_inputs.device) if graphs else None

    def _run(self, model, batch_inputs: Tensor, queries: tuple, key: tuple):
        """A steady step of a compiled shape, counted: its outputs, or None
        (run eagerly: a failure, the rest of the run eager)."""
        graphs = self._graphs(batch_inputs.device)
        try:  # a steady call may not compile: Dynamo runs it eagerly
            with torch.compiler.set_stance('eager_on_recompile'):
                out, node = self._call(model, batch_inputs, queries)
        except Exception as e:  # noqa: B902 compilers fail in many ways
            self._fail(f'model.graph_train_cfg: a compiled step of shape '
                       f'{key[0]} failed: {type(e).__name__}: '
                       f'{first_line(e)}')
            self._eager(self._failed)
            return None
        if self._ran_eagerly:  # its outputs are the eager step's
            self.guard_failures += 1
            self._compiled.discard(key)
            self._nodes.pop(key, None)
            reason = (f"model.graph_train_cfg: Dynamo's guards of the "
                      f'compiled shape {key[0]} failed (a module switched '
                      'between train and eval, a parameter frozen, autocast: '
                      'TORCH_LOGS=recompiles names it); that step ran '
                      'eagerly, the shape is compiled again at its next '
                      'batch, in the guard')
            self._eager(reason, count_as=GUARD_FAILED)
            self._say(reason)
            return out
        self._compiled_step = True
        self.last_fallback = None
        recorded = self._nodes.get(key)
        if graphs and recorded is not None and node is recorded[0]():
            self.counts['replayed'] += 1
            self._awaiting = key
            self._device = batch_inputs.device
        else:
            self.counts['compiled'] += 1
            if graphs:
                self._fail(f'model.graph_train_cfg: the forward of shape '
                           f'{key[0]} did not replay the CUDA graph its probe '
                           'recorded (re-recorded or skipped: TORCH_LOGS='
                           'cudagraphs names why)')
        return out

    def _check_backward(self) -> None:
        """After a replayed step's backward: count the step as compiled, and
        the rest of the run eager, where the backward did not replay the
        graph its shape's probe recorded."""
        key, self._awaiting = self._awaiting, None
        if _graph_node(self._device) is not self._nodes[key][1]():
            self.counts['replayed'] -= 1
            self.counts['compiled'] += 1
            self._fail(f'model.graph_train_cfg: the backward of shape '
                       f'{key[0]} did not replay the CUDA graph its probe '
                       'recorded (re-recorded or skipped: TORCH_LOGS='
                       'cudagraphs names why)')

    def _probe(self, model, batch_inputs: Tensor, queries: tuple, key: tuple):
        """A shape's compilation, and on CUDA its warm-up, recording and
        replay, on the step's own batch (nothing kept), in one guard:
        ``(None, False)``, or why it failed (naming the stage and the
        exception) and whether the whole run must run eagerly (a recording
        or replay: the CUDA-graph tree may be half-recorded)."""
        device = batch_inputs.device
        graphs = self._graphs(device)
        rounds = ('compilation and CUDA-graph warm-up', 'CUDA-graph recording',
                  'CUDA-graph replay') if graphs else (
                      'compilation and first run', )
        params = [p for p in model.parameters() if p.requires_grad]
        buffers = [b.detach().clone() for b in model.buffers()]
        # the queries as leaves (their eager graph is the step's own)
        leaves = tuple(
            q if q is None else q.detach().requires_grad_(q.requires_grad)
            for q in queries)
        stage = f'{rounds[0]} of the forward'
        try:
            # (the CPU's random state; on CUDA inductor draws its own
            # numbers, other than eager's, either way)
            with torch.random.fork_rng(devices=[]):
                for name in rounds:
                    stage = f'{name} of the forward'
                    out, forward = self._call(model, batch_inputs, leaves)
                    if self._ran_eagerly:  # not compiled
                        return (f'model.graph_train_cfg: the {stage} ran '
                                "eagerly (Dynamo's recompile limit "
                                'reached)'), False
                    outputs = [
                        t for r in out for t in r.values() if t.requires_grad
                    ]
                    stage = f'{name} of the backward'
                    torch.autograd.grad(
                        outputs,
                        params, [torch.ones_like(t) for t in outputs],
                        allow_unused=True)
                    backward = _graph_node(device) if graphs else None
                    del out, outputs
        except Exception as e:  # noqa: B902 compilers fail in many ways
            return (f'model.graph_train_cfg: the {stage} of the training step '
                    f"(torch.compile backend='{self.cfg['backend']}', mode="
                    f"'{self.cfg['mode']}') failed: {type(e).__name__}: "
                    f'{first_line(e)}'), not stage.startswith('compilation')
        finally:  # the probes' BatchNorm statistics undone
            with torch.no_grad():
                for b, saved in zip(model.buffers(), buffers):
                    b.copy_(saved)
        if graphs:
            for half, replayed in (('forward', forward is not None
                                    and forward.parent is None),
                                   ('backward', backward is not None
                                    and backward.parent is forward)):
                if not replayed:
                    return (f'model.graph_train_cfg: the {half} of shape '
                            f'{key[0]} did not replay as one CUDA graph after '
                            'its warm-up and recording (split, skipped or '
                            're-recorded: TORCH_LOGS=cudagraphs names why)'), \
                        True
            self._nodes[key] = (weakref.ref(forward), weakref.ref(backward))
        return None, False

    def _own_grads(self, model) -> None:
        """Hooks that note every parameter's ``.grad`` after each
        accumulation of a compiled step where the step does not own it
        (registered once per parameter, at each shape's compilation; frozen
        ones too: they may be unfrozen); the next compiled call copies those
        still held (:meth:`_secure_grads`). The first after a replayed step
        checks that its backward replayed (:meth:`_check_backward`)."""
        for p in model.parameters():
            if p not in self._hooked:
                self._hooked[p] = True
                p.register_post_accumulate_grad_hook(self._note_grad)

    def _note_grad(self, param: Tensor) -> None:
        if self._awaiting is not None:
            self._check_backward()
        if self._compiled_step and param.grad is not None and \
                param.grad not in self._owned:
            self._pending.append((param, weakref.ref(param.grad)))

    def _secure_grads(self) -> None:
        """Copy out of the CUDA-graph pool, before the next replay writes
        it, every gradient a backward left there that a parameter still
        holds (accumulation, ``zero_grad(set_to_none=False)``); those set
        to None or replaced since (DDP's bucket views) are left."""
        kept = [(p, p.grad) for p, ref in self._pending
                if p.grad is not None and p.grad is ref()]
        self._pending = []
        if kept:
            copies = torch._foreach_mul([g for _, g in kept], 1.0)
            for (p, _), copy in zip(kept, copies):
                p.grad = copy
                self._owned[copy] = True

    def stats(self) -> Dict[str, object]:
        """The counts of the steps so far (plain data, for logs and
        benchmark rows).

        Returns:
            dict: ``steps``, ``replayed`` (forward and backward replayed),
            ``compiled`` (ran compiled, not both seen replaying), ``eager``
            (reason -> steps), ``shapes`` (compiled), ``cudagraph_skips``,
            ``compilations`` (Dynamo's, of the training forward; a graph
            break does not add one), ``graph_breaks``, ``recompiles``
            (steady calls whose guards failed, and compilations beyond one
            per shape tried).
        """
        eager = {
            k: v
            for k, v in self.counts.items()
            if k not in ('replayed', 'compiled')
        }
        return dict(
            steps=sum(self.counts.values()),
            replayed=self.counts['replayed'],
            compiled=self.counts['compiled'],
            eager=eager,
            shapes=len(self._compiled),
            cudagraph_skips=self.cudagraph_skips,
            compilations=self.compilations,
            graph_breaks=self.graph_breaks,
            recompiles=self.guard_failures +
            max(0, self.compilations - self._tried))

    def report(self) -> Tuple[str, List[str]]:
        """A log line of :meth:`stats` and the warnings they call for (a
        CUDA-graph skip, a recompile, a graph break, no replay after the
        warm-up of a shape on CUDA)."""
        s = self.stats()
        eager = ', '.join(f'{n} {k}' for k, n in sorted(
            s['eager'].items(), key=lambda kv: -kv[1])) or 'none'
        line = (f"graph_train_cfg: {s['replayed']} of {s['steps']} training "
                f"steps replayed, {s['compiled']} compiled without a CUDA-"
                f"graph replay, {sum(s['eager'].values())} eager ({eager}); "
                f"{s['shapes']} shapes recorded, {s['cudagraph_skips']} CUDA-"
                f"graph skips, {s['compilations']} Dynamo compilations "
                f"({s['recompiles']} recompiles, {s['graph_breaks']} graph "
                'breaks)')
        warns = []
        if s['cudagraph_skips']:
            warns.append(f"graph_train_cfg: inductor skipped CUDA graphs "
                         f"{s['cudagraph_skips']} times in the training step "
                         '(TORCH_LOGS=cudagraphs names the reason)')
        if s['recompiles']:
            warns.append(
                f"graph_train_cfg: Dynamo's guards of a compiled shape failed "
                f"{s['recompiles']} times (a module switched between train "
                'and eval, a parameter frozen, autocast; TORCH_LOGS='
                'recompiles names it)')
        if s['graph_breaks']:
            warns.append(f"graph_train_cfg: Dynamo broke the training forward "
                         f"{s['graph_breaks']} times (TORCH_LOGS=graph_breaks "
                         'names where)')
        failures = [self._failed] if self._failed else []
        failures += sorted(set(self._refused.values()))
        others = {
            k: n
            for k, n in s['eager'].items() if k not in (FIRST_BATCH, )
        }
        if self._replays and not s['replayed'] and (failures or s['compiled']
                                                    or others):
            cause = (failures or [max(others, key=others.get, default='')])[0]
            warns.append('graph_train_cfg: no training step was replayed '
                         'after the warm-up: ' +
                         (cause or 'the compiled steps ran without CUDA '
                          'graphs'))
        elif failures:
            warns += [f'graph_train_cfg: {f}' for f in failures]
        return line, warns


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
