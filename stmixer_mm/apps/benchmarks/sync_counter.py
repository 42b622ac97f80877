"""Count the operators a piece of PyTorch code launches and the points where it
makes the host wait for the device: on a CPU, :class:`OpCounter` counts the
ATen operators and those that *would* wait for a GPU (list: docs/en/gpu.md)."""
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

#: operators that read a tensor's value on the host (the reason)
_SCALAR_READS = {
    aten._local_scalar_dense.default: 'item',
    aten.is_nonzero.default: 'bool',
    aten.equal.default: 'equal',
}

#: operators whose output shape depends on the values
_DATA_DEPENDENT = ('nonzero', 'nonzero_static', 'masked_select', 'unique',
                   'unique_dim', 'unique_consecutive', '_unique', '_unique2',
                   'bincount', 'histc', 'argwhere')

#: where an operator outside every tracked part is counted
OTHER = 'other'


def _packet_name(func) -> str:
    return func.overloadpacket.__name__ if hasattr(func, 'overloadpacket') \
        else str(func)


def _has_bool_index(args) -> bool:
    indices = args[1] if len(args) > 1 else None
    return isinstance(indices, (list, tuple)) and any(
        isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8)
        for i in indices)


def sync_reason(func, args, kwargs, out=None) -> Optional[str]:
    """Why ``func(*args, **kwargs)`` makes the host wait for the device (a
    value read, a data-dependent shape, a copy to the CPU), or None."""
    if func in _SCALAR_READS:
        return _SCALAR_READS[func]
    name = _packet_name(func)
    if name in _DATA_DEPENDENT:
        return name
    if name == 'repeat_interleave' and isinstance(
            args[0] if args else None, torch.Tensor) and len(args) > 1 and \
            isinstance(args[1], torch.Tensor):
        return 'repeat_interleave'
    if name in ('index', 'index_put', 'index_put_', '_index_put_impl_') \
            and _has_bool_index(args):
        return 'bool-mask index'
    if name in ('_to_copy', 'copy_') and args and isinstance(
            args[0], torch.Tensor):
        src = args[1] if name == 'copy_' else args[0]
        dst = args[0] if name == 'copy_' else out
        if isinstance(src, torch.Tensor) and isinstance(dst, torch.Tensor) \
                and src.device.type != 'cpu' and dst.device.type == 'cpu':
            return 'to cpu'
    return None


#: operators that only make a new Python handle of a tensor
_NOT_COUNTED = ('detach', 'alias', 'lift_fresh')

#: tensor methods that read values on the host (or copy them to the CPU),
#: counted at the Python level: one ``.tolist()`` is one transfer
_HOST_READS = {
    'item': 'item',
    '__bool__': 'bool',
    '__float__': 'item',
    '__int__': 'item',
    '__index__': 'item',
    'tolist': 'tolist',
    'cpu': 'to cpu',
}


def _host_read(func, args, kwargs) -> Optional[str]:
    name = getattr(func, '__name__', None)
    if name in _HOST_READS:
        return _HOST_READS[name]
    if name == 'new_tensor' or (name in ('tensor', 'as_tensor')
                                and kwargs.get('device') is not None):
        # Python data put on a device: a blocking copy from the host
        return 'to device'
    if name == 'to' and args and isinstance(args[0], torch.Tensor) and \
            args[0].device.type != 'cpu':
        # ``.to(device)`` is a host read only from another device: on a
        # CPU-only run ``.to(x.device)`` would look like one
        target = kwargs.get('device', args[1] if len(args) > 1 else None)
        if isinstance(target, (str, torch.device)) and \
                torch.device(target).type == 'cpu':
            return 'to cpu'
    return None


class _Owned:
    """A mode of :class:`OpCounter` (its ``owner``)."""

    def __init__(self, owner: 'OpCounter') -> None:
        super().__init__()
        self.owner = owner


class _FunctionCounter(_Owned, TorchFunctionMode):
    """The Python-level part of :class:`OpCounter`: host reads of tensor
    methods."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        reason = _host_read(func, args, kwargs)
        if reason is None:
            return func(*args, **kwargs)
        owner = self.owner
        if not owner._reading:
            owner.syncs.append((owner.part, reason, func.__name__))
        owner._reading += 1
        try:
            return func(*args, **kwargs)
        finally:
            owner._reading -= 1


class _DispatchCounter(_Owned, TorchDispatchMode):
    """The ATen part of :class:`OpCounter`: operators and the synchronisations
    of :func:`sync_reason`."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.owner._count_op(func, args, kwargs, out)
        return out


class OpCounter:
    r"""Count ATen operators and host synchronisations per part: the
    innermost tracked method running, else ``'other'``; :meth:`section`
    counts a block (e.g. ``.backward()``).

    Example::

        counter = OpCounter()
        with counter.track(model, [('backbone', 'backbone', 'forward'),
                                   ('decoder', 'roi_head', 'forward')]), \
                counter:
            model.predict(inputs, samples)
        counter.ops            # Counter({'backbone': ..., 'other': ...})
        counter.syncs          # [(part, reason, operator), ...]
    """

    def __init__(self) -> None:
        self.ops: Counter = Counter()
        #: per part, the operators that are not views (GPU kernel launches)
        self.kernels: Counter = Counter()
        self.op_names: Counter = Counter()
        self.syncs: List[Tuple[str, str, str]] = []
        self._parts: List[str] = []
        self._reading = 0  # inside a host read counted at the Python level
        self._modes = None

    # ----- parts -----
    @property
    def part(self) -> str:
        return self._parts[-1] if self._parts else OTHER

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Count what runs inside in the part ``name``."""
        self._parts.append(name)
        try:
            yield
        finally:
            self._parts.pop()

    @contextmanager
    def track(self, model: nn.Module,
              parts: Sequence[Tuple[str, str, str]]) -> Iterator[None]:
        """Count what runs inside some methods of ``model``'s submodules.

        Args:
            model (nn.Module): The model.
            parts (Sequence[tuple[str, str, str]]): Calls of
                ``model.<path>.<method>`` of each ``(part, path, method)``
                (``path`` dotted, ``''`` for the model) count in ``part``
                (innermost wins); paths the model lacks are skipped.
        """
        patched = []
        for part, path, method in parts:
            module = model
            for name in filter(None, path.split('.')):
                module = getattr(module, name, None)
            fn = getattr(module, method, None)  # None: no such module
            if fn is not None:
                patched.append((module, method, vars(module).get(method)))
                # a decorator too: each call of fn inside a fresh section
                setattr(module, method, self.section(part)(fn))
        try:
            yield
        finally:
            for module, method, own in reversed(patched):
                if own is not None:  # an instance attribute before
                    setattr(module, method, own)
                else:
                    delattr(module, method)

    # ----- counting -----
    def __enter__(self) -> 'OpCounter':
        self._modes = (_FunctionCounter(self), _DispatchCounter(self))
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
        self._modes = None

    def _count_op(self, func, args, kwargs, out) -> None:
        name = _packet_name(func)
        if name not in _NOT_COUNTED:
            self.ops[self.part] += 1
            self.op_names[name] += 1
            if not getattr(func, 'is_view', False):
                self.kernels[self.part] += 1
        if self._reading:
            return  # counted as the Python-level read
        reason = sync_reason(func, args, kwargs, out)
        if reason is not None:
            self.syncs.append((self.part, reason, name))

    # ----- reports -----
    @property
    def total_ops(self) -> int:
        return sum(self.ops.values())

    def sync_counts(self) -> Dict[str, int]:
        """Synchronisations per part."""
        return dict(Counter(part for part, _, _ in self.syncs))

    def sync_summary(self) -> Dict[Tuple[str, str], int]:
        """Synchronisations per (part, reason)."""
        return dict(Counter((part, reason) for part, reason, _ in self.syncs))


@contextmanager
def cuda_sync_warnings(device: torch.device) -> Iterator[List[str]]:
    """Record the synchronisations CUDA itself reports in a block.

    Args:
        device (torch.device): Where the block runs; on a device other
            than CUDA nothing is recorded.

    Yields:
        list[str]: Filled when the block ends: one entry per warning of
        ``torch.cuda.set_sync_debug_mode('warn')`` (one per synchronising
        call), ``'file:line: message'`` of the Python line that made it.
    """
    records: List[str] = []
    if device.type != 'cuda':
        yield records
        return
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            yield records
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    records.extend(f'{w.filename}:{w.lineno}: {w.message}' for w in caught
                   if 'synchroniz' in str(w.message).lower())


#: prefixes of the profiler events counted as operators by
#: :func:`profiler_op_count` (besides compiled kernels)
_PROFILED_OPS = ('aten::', 'stmixer_mm::')


def profiler_op_count(fn: Callable[[], object]) -> Dict[str, int]:
    """Run ``fn()`` once under ``torch.profiler`` (CPU activity) and count the
    operators it dispatches that are not nested in another: ATen (and this
    package's) operators, and the kernels of ``torch.compile``'d code
    (inductor's C++ kernels, profiled through
    ``torch._inductor.config.cpp.enable_kernel_profile``, which must be set
    before the code is compiled). Unlike :class:`OpCounter` (a dispatch
    mode, under which compiled code runs eagerly) it sees compiled code as
    it runs.

    Args:
        fn (callable): The code, e.g. one training step.

    Returns:
        dict: ``operators`` (ATen operators not nested in another),
        ``kernels`` (compiled kernels not nested in an operator) and
        ``total``.
    """
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(
        (e for e in prof.events()
         if e.name.startswith(_PROFILED_OPS) or 'cpp_fused' in e.name),
        key=lambda e: (e.thread, e.time_range.start))
    counts, ends = Counter(), {}
    for event in events:
        if event.time_range.start < ends.get(event.thread, -1):
            continue  # inside the previous top-level one
        ends[event.thread] = event.time_range.end
        counts['kernels' if 'cpp_fused' in event.name else 'operators'] += 1
    return dict(
        operators=counts['operators'],
        kernels=counts['kernels'],
        total=sum(counts.values()))
