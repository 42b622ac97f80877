"""Operators launched and host synchronisations of ``predict`` and of one
training step of detector configs, per part.

    python tools/analysis_tools/profile_model.py CONFIG [CONFIG ...]

Random weights, one random clip, two GT persons; the counter:
``stmixer_mm.apps.benchmarks.sync_counter`` (what is counted:
docs/en/gpu.md)."""
import argparse
import os.path as osp
import statistics
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from stmixer_mm.apps.benchmarks.common import (add_arguments, add_gt,
                                               build_random_model, clip_shape,
                                               format_table, make_batch,
                                               official_stack_cfg, time_steps,
                                               with_threads, write_json)
from stmixer_mm.apps.benchmarks.official_training import (
    LOSS_TOLERANCE, losses_difference, official_train_losses,
    random_layers_off)
from stmixer_mm.apps.benchmarks.sync_counter import (OpCounter,
                                                     cuda_sync_warnings,
                                                     profiler_op_count)
from stmixer_mm.apps.benchmarks.timeline import cuda_timeline, format_timeline
from stmixer_mm.apps.cli import add_cfg_options
from stmixer_mm.apps.command_errors import config_or_exit

#: ``(part, submodule path, method)`` counted in each part (see
#: :meth:`OpCounter.track`), outer parts first
PARTS = (
    ('backbone', 'backbone', 'forward'),
    ('neck', 'neck', 'forward'),
    ('queries', 'rpn_head', 'predict'),
    ('queries', 'rpn_head', 'loss_and_predict'),
    ('decoder', 'roi_head', 'forward'),
    ('matching', 'roi_head', 'assign'),
)
#: part names in the order of the report
PART_ORDER = ('backbone', 'neck', 'queries', 'decoder', 'post', 'matching',
              'targets+losses', 'matching+losses', 'backward', 'other')


def _stage_parts(model) -> List[Tuple[str, str, str]]:
    parts = list(PARTS)
    stages = getattr(getattr(model, 'roi_head', None), 'stages', None)
    if stages is not None:
        last = len(stages) - 1
        parts.append(('post', f'roi_head.stages.{last}', 'predict_by_feat'))
        for k in range(len(stages)):  # loss_and_target calls loss_stages
            parts.append(
                ('targets+losses', f'roi_head.stages.{k}', 'loss_stages'))
    return parts


def _device(model) -> torch.device:
    return next(model.parameters()).device


def profile_predict(model, data: dict) -> OpCounter:
    """Count ``model.predict`` on the preprocessed ``data`` (no gradients) on
    the model's device (CUDA: ``cuda_syncs`` lists what CUDA reported)."""
    model.eval()
    device = _device(model)
    with torch.no_grad():
        batch = model.data_preprocessor(data, False)
        if device.type == 'cuda':  # lazy initialisation out of the count
            model.predict(batch['inputs'], batch['data_samples'])
            torch.cuda.synchronize(device)
        counter = OpCounter()
        with counter.track(model, _stage_parts(model)), counter, \
                cuda_sync_warnings(device) as cuda_syncs:
            model.predict(batch['inputs'], batch['data_samples'])
    counter.cuda_syncs = cuda_syncs if device.type == 'cuda' else None
    return counter


def our_losses(model, batch: dict, counter: OpCounter) -> dict:
    """``model.loss`` of a preprocessed batch (our training step's)."""
    return model.loss(batch['inputs'], batch['data_samples'])


def official_losses(model, batch: dict, counter: OpCounter) -> dict:
    """The official training step's losses of a preprocessed batch
    (:func:`~stmixer_mm.apps.benchmarks.official_training.official_train_losses`),
    its criterion counted as the matching and losses."""
    return official_train_losses(model, batch['inputs'], batch['data_samples'],
                                 counter.section('matching+losses'))


def profile_train(model,
                  data: dict,
                  losses_fn: Callable = our_losses) -> OpCounter:
    """Count the losses of ``losses_fn(model, batch, counter)`` (default:
    ``model.loss``) + ``backward`` of their sum on the preprocessed ``data``
    (train mode; no optimizer step): per part by an :class:`OpCounter`,
    and a step before it by the profiler (``counter.profiled``,
    :func:`profiler_op_count`, which sees compiled stages as they run; the
    step that compiles them is not counted)."""
    model.train()
    device = _device(model)
    batch = model.data_preprocessor(data, True)

    def step(counter: OpCounter) -> None:
        losses = losses_fn(model, batch, counter)
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        model.zero_grad(set_to_none=True)

    if getattr(model.roi_head, 'compile_stages', None) is not None:
        import torch._inductor.config as inductor_config
        with inductor_config.patch({'cpp.enable_kernel_profile': True}):
            step(OpCounter())
    # first: under the counter's dispatch modes compiled code runs eagerly
    profiled = profiler_op_count(partial(step, OpCounter()))
    counter = OpCounter()
    with counter.track(model, _stage_parts(model)), counter, \
            cuda_sync_warnings(device) as cuda_syncs:
        losses = losses_fn(model, batch, counter)
        total = sum(v for k, v in losses.items() if 'loss' in k)
        with counter.section('backward'):
            total.backward()
    counter.cuda_syncs = cuda_syncs if device.type == 'cuda' else None
    model.zero_grad(set_to_none=True)
    counter.profiled = profiled
    model.eval()
    return counter


def train_vs_official(path: str,
                      shape: Optional[Sequence[int]] = None,
                      batch_size: int = 1,
                      seed: int = 0,
                      cfg_options: Optional[dict] = None,
                      device: str = 'cpu',
                      warmup: int = 1,
                      repeats: int = 5) -> Dict[str, Any]:
    """Our training step against the official one (the official stack's
    forward and the official criterion, same weights and clip): the
    operators of each, their wall times (interleaved, every other round
    reversed; forward, losses and backward, no optimizer step) and the
    largest relative difference of their losses (one more step of each
    with dropout and stochastic depth off: ``random_layers_off``).
    ``SystemExit`` when the losses differ by more than
    :data:`LOSS_TOLERANCE`.

    Returns:
        dict: ``ops`` / ``syncs`` and ``times`` per side, ``loss_diff``.
    """
    ours = build_random_model(path, seed, cfg_options).to(device)
    cfg = config_or_exit(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    official = build_random_model(official_stack_cfg(cfg), seed).to(device)
    official.load_state_dict(ours.state_dict(), strict=True)
    t, h, w = clip_shape(ours.cfg, shape, (128, 160))
    torch.manual_seed(seed)
    data = add_gt(make_batch(batch_size, t, h, w), ours)
    sides = dict(official=(official, official_losses), ours=(ours, our_losses))
    row = dict(
        config=path,
        input=[batch_size, t, h, w],
        train={
            k: summarise(profile_train(m, data, f))
            for k, (m, f) in sides.items()
        })

    def step(model, losses_fn):  # in train mode (dropout as set)
        batch = model.data_preprocessor(data, True)
        losses = losses_fn(model, batch, OpCounter())
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        model.zero_grad(set_to_none=True)
        return {k: v.detach() for k, v in losses.items()}

    dev = torch.device(device)
    ours.train()
    official.train()
    wall, _, _ = time_steps(
        {
            k: partial(step, *side)
            for k, side in sides.items()
        },
        warmup,
        repeats,
        dev if dev.type == 'cuda' else None,
        alternate=True)
    with random_layers_off(ours, official):
        diff = losses_difference(*(step(*sides[k])
                                   for k in ('ours', 'official')))
    if not diff <= LOSS_TOLERANCE:
        raise SystemExit(f'{path}: our losses differ from the official '
                         f'criterion\'s by {diff:.2e} (relative)')
    row.update(times=wall, loss_diff=diff)
    return row


def summarise(counter: OpCounter) -> Dict[str, Any]:
    """Plain data of a counter: ``ops`` and ``syncs`` per part, the total and
    what the synchronisations are."""
    syncs = counter.sync_counts()
    cuda_syncs = getattr(counter, 'cuda_syncs', None)
    # on CUDA: what set_sync_debug_mode('warn') reported
    cuda = {} if cuda_syncs is None else dict(
        cuda_sync_warnings=len(cuda_syncs),
        cuda_sync_messages=sorted(set(cuda_syncs)))
    return dict(
        ops=dict(counter.ops),
        total_ops=counter.total_ops,
        kernels=dict(counter.kernels),
        total_kernels=sum(counter.kernels.values()),
        syncs=syncs,
        total_syncs=len(counter.syncs),
        sync_reasons={
            f'{part}: {reason}': n
            for (part, reason), n in sorted(counter.sync_summary().items())
        },
        **cuda,
        **({} if getattr(counter, 'profiled', None) is None else dict(
            profiled=counter.profiled)))


def profile_config(path: str,
                   shape: Optional[Sequence[int]] = None,
                   batch_size: int = 1,
                   train: bool = True,
                   seed: int = 0,
                   cfg_options: Optional[dict] = None,
                   device: str = 'cpu',
                   timeline: bool = False) -> Dict[str, Any]:
    """Profile one config (see the module docstring) on ``device``;
    ``timeline`` (CUDA): also where the time of ``predict`` goes
    (``stmixer_mm.apps.benchmarks.timeline.cuda_timeline``)."""
    model = build_random_model(path, seed, cfg_options).to(device)
    t, h, w = clip_shape(model.cfg, shape, (128, 160))
    torch.manual_seed(seed)
    data = add_gt(make_batch(batch_size, t, h, w), model)
    row = dict(
        config=path,
        input=[batch_size, t, h, w],
        predict=summarise(profile_predict(model, data)))
    if timeline:
        row['predict_timeline'] = predict_timeline(model, data)
    if train:
        row['train'] = summarise(profile_train(model, data))
    return row


def predict_timeline(model, data: dict) -> Dict[str, Any]:
    """``stmixer_mm.apps.benchmarks.timeline.cuda_timeline`` of
    ``model.predict`` on the preprocessed ``data`` (no gradients; three warm-up
    calls)."""
    model.eval()
    device = _device(model)
    with torch.no_grad():
        batch = model.data_preprocessor(data, False)

        def run():
            model.predict(batch['inputs'], batch['data_samples'])

        for _ in range(3):
            run()
        return cuda_timeline(run, device)


def format_rows(rows: Sequence[Dict[str, Any]]) -> str:
    """A plain-text table per run kind: operators (syncs) per part."""
    out = []
    for kind in ('predict', 'train'):
        kind_rows = [r for r in rows if kind in r]
        if not kind_rows:
            continue
        parts = [
            p for p in PART_ORDER
            if any(p in r[kind]['ops'] for r in kind_rows)
        ]
        table = [['config', 'input'] + parts + ['total', 'non-view']]
        for r in kind_rows:
            s = r[kind]
            cells = [
                f"{s['ops'].get(p, 0)} ({s['syncs'].get(p, 0)})" for p in parts
            ]
            table.append([r['name'], 'x'.join(map(str, r['input']))] + cells +
                         [
                             f"{s['total_ops']} ({s['total_syncs']})",
                             str(s['total_kernels'])
                         ])
        out.append(f'{kind}: ATen operators (host synchronisations) per '
                   'part; non-view: the operators that are not views')
        out.append(format_table(table))
        for r in kind_rows:
            reasons = r[kind]['sync_reasons']
            if reasons:
                out.append(f"  {r['name']}: " +
                           ', '.join(f'{k} x{n}' for k, n in reasons.items()))
            if 'profiled' in r[kind]:
                p = r[kind]['profiled']
                out.append(f"  {r['name']}: one step by the profiler: "
                           f"{p['total']} ({p['operators']} operators not "
                           f"nested in another + {p['kernels']} compiled "
                           'kernels)')
            if 'cuda_sync_warnings' in r[kind]:
                out.append(f"  {r['name']}: CUDA reported "
                           f"{r[kind]['cuda_sync_warnings']} synchronising "
                           'call(s) (set_sync_debug_mode)' +
                           ''.join(f'\n    {m}'
                                   for m in r[kind]['cuda_sync_messages']))
        out.append('')
    return '\n'.join(out)


def profile_configs(configs: Sequence[str],
                    shape: Optional[Sequence[int]] = None,
                    batch_size: int = 1,
                    train: bool = True,
                    seed: int = 0,
                    json: Optional[str] = None,
                    cfg_options: Optional[dict] = None,
                    device: str = 'cpu',
                    timeline: bool = False,
                    vs_official: bool = False,
                    warmup: int = 1,
                    repeats: int = 5) -> List[dict]:
    """Profile every config on ``device``, print the tables, return the rows
    (and write them to ``json``); ``vs_official``: the training step of each
    against the official one instead (:func:`train_vs_official`)."""
    rows = []
    for path in configs:
        if vs_official:
            row = train_vs_official(path, shape, batch_size, seed, cfg_options,
                                    device, warmup, repeats)
        else:
            row = profile_config(path, shape, batch_size, train, seed,
                                 cfg_options, device, timeline)
        row['name'] = osp.splitext(osp.basename(path))[0]
        rows.append(row)
        if json:
            write_json(json, rows)
    where = 'the CPU' if torch.device(device).type == 'cpu' else \
        f'{device} ({torch.cuda.get_device_name(torch.device(device))})'
    print(f'torch {torch.__version__}; random weights (seed {seed}), batch '
          f'{batch_size}, on {where} with {torch.get_num_threads()} '
          'thread(s)')
    if vs_official:
        print(format_vs_official(rows, warmup, repeats))
        return rows
    print(format_rows(rows))
    if timeline:
        print('predict on the GPU: wall time (no profiler) against the time '
              'the GPU had work (torch.profiler), per call')
        for r in rows:
            print(format_timeline(r['name'], r['predict_timeline']))
    return rows


def format_vs_official(rows: Sequence[Dict[str, Any]], warmup: int,
                       repeats: int) -> str:
    """The operator tables of both training steps and a line of times per
    config (:func:`train_vs_official` rows)."""
    sides = [
        dict(r, name=f"{r['name']} ({side})", train=r['train'][side])
        for r in rows for side in ('official', 'ours')
    ]
    out = [format_rows(sides)]
    out.append(f'one training step (forward, losses, backward), median of '
               f'{repeats} after {warmup} warm-up, interleaved:')
    for r in rows:
        official, ours = (
            statistics.median(r['times'][k]) for k in ('official', 'ours'))
        ops = [r['train'][k]['total_ops'] for k in ('official', 'ours')]
        out.append(f"  {r['name']}: official {official * 1e3:.1f} ms, ours "
                   f'{ours * 1e3:.1f} ms ({official / ours:.2f}x); '
                   f'operators {ops[0]} -> {ops[1]} '
                   f'({100 * ops[1] / ops[0]:.0f} %); losses equal within '
                   f"{r['loss_diff']:.1e} (relative)")
    return '\n'.join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='count the operators and host synchronisations of '
        'predict and of one training step')
    p.add_argument('configs', nargs='+')
    add_arguments(
        p,
        dict(
            shape="default: the config's clip_len x 128 x 160",
            json='also write the rows here',
            device='where the model runs (default: cpu); on cuda the '
            'synchronisations CUDA reports (set_sync_debug_mode) are counted '
            'too'),
        shape=None,
        batch_size=1,
        threads=1,
        seed=0,
        json=None,
        device='cpu')
    add_cfg_options(
        p, 'override config entries, key=value, as tools/train.py (e.g. '
        'model.roi_head.compile_stages=True: the compiled stages, counted '
        'after a first step that compiles them)')
    p.add_argument('--no-train', action='store_true', help='predict only')
    p.add_argument(
        '--vs-official',
        action='store_true',
        help='the training step against the official one (the official '
        'stack and criterion; stmixer_mm.apps.benchmarks.official_training): '
        'operators, times and the losses compared')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument(
        '--timeline',
        action='store_true',
        help='on cuda: also where the time of predict goes (wall time, '
        'GPU busy time, kernels, launches, synchronisations; '
        'stmixer_mm.apps.benchmarks.timeline)')
    args = p.parse_args(argv)
    dev = args.device.split(':')[0]
    if dev not in ('cpu', 'cuda'):
        p.error(f'--device must be cpu or cuda, got {args.device}')
    if dev == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: CUDA is not available on this machine')
    if args.timeline and dev != 'cuda':
        p.error('--timeline needs --device cuda')
    if args.vs_official and (args.no_train or args.timeline):
        p.error('--vs-official times training: not with --no-train or '
                '--timeline')
    if args.warmup < 0 or args.repeats < 1:
        p.error('--warmup must be >= 0, --repeats >= 1')
    return args


def main(argv=None):
    kwargs = with_threads(parse_args(argv))
    kwargs['train'] = not kwargs.pop('no_train')
    return profile_configs(**kwargs)


if __name__ == '__main__':
    main()
