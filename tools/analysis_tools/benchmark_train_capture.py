r"""What the replayed training step (``model.graph_train_cfg``) meets, on the
CPU (issue 95, point 4; the GPU rows: tools/gpu/bench_train_step.py):

    python tools/analysis_tools/benchmark_train_capture.py CONFIG [...] \
        [--epoch-clips 200000] [--shape T H W]

Per config, three rows:

- ``shapes``: the distinct padded input shapes of the training batches
  over an AVA-like epoch (``--epoch-clips`` clips), from the config's own
  ``RandomShortSideResize`` and ``STMixerDataPreprocessor`` (short-side
  draw, size divisor, ``train_pad_shapes``, batch size), against the
  former ``scale_range=(256, 320)`` draw without listed shapes; and the
  share of the padded input area that is padding, with the listed shapes
  and with the official padding (each batch to its largest clip rounded
  up to the size divisor), and the difference (``extra``). The
  frame sizes are an assumed mix (``stmixer_mm.apps.benchmarks.common``'s
  ``FRAME_SIZES``: AVA's films are mostly 16:9 or wider; no AVA copy is
  here to count them);
- ``dynamo``: ``torch._dynamo.explain`` of the training forward
  (``STMixer.train_forward``, what ``graph_train_cfg`` compiles) at a
  ``--shape`` clip: graphs and graph breaks;
- ``residue``: the operators that stay eager around it, the matching and
  the losses: the profiler's outer operators of ``model.loss`` minus
  those of the training forward (random weights, two GT persons a clip).
"""
import argparse
from typing import Dict, List, Tuple

import torch
from mmengine.config import Config

from stmixer_mm.apps.benchmarks.common import (add_arguments, add_gt,
                                               build_random_model, clip_shape,
                                               epoch_batches, epoch_shapes,
                                               format_table, make_batch,
                                               named_configs, padded_share,
                                               with_threads, write_json)
from stmixer_mm.apps.benchmarks.sync_counter import profiler_op_count
from stmixer_mm.apps.command_errors import config_or_exit


def _pipeline_step(cfg: Config, kind: str) -> dict:
    """The first ``kind`` step of the training pipeline."""
    for step in cfg.train_dataloader.dataset.pipeline:
        if str(step['type']).rpartition('.')[2].endswith(kind):
            return step
    raise ValueError(f'the training pipeline has no {kind} step')


def shape_row(cfg: Config, clips: int, seed: int) -> Dict[str, object]:
    """The ``shapes`` row of a config (see the module)."""
    resize = dict(_pipeline_step(cfg, 'ShortSideResize'))
    pre = cfg.model.data_preprocessor
    divisor = pre.get('pad_size_divisor', 32)
    pad_shapes = pre.get('train_pad_shapes')
    batch = cfg.train_dataloader.batch_size
    now = epoch_shapes(resize, divisor, pad_shapes, batch, clips, seed)
    batches = epoch_batches(resize, batch, clips, seed)
    padded = padded_share(batches, divisor, pad_shapes)
    official = padded_share(batches, divisor)
    before = epoch_shapes(
        dict(type='RandomShortSideResize', scale_range=(256, 320)), divisor,
        None, batch, clips, seed)
    top = ', '.join(f'{h}x{w} {n / sum(now.values()):.0%}'
                    for (h, w), n in now.most_common(4))
    return dict(
        batches=sum(now.values()),
        shapes=len(now),
        shapes_before=len(before),
        most_common=top,
        padded=padded,
        padded_official=official,
        padded_extra=padded - official)


def _train_inputs(model, shape: Tuple[int, int, int], batch_size: int):
    """A preprocessed training batch (two GT persons a clip) and the
    decoder's initial queries."""
    data = add_gt(make_batch(batch_size, *shape), model)
    batch = model.data_preprocessor(data, True)
    samples = batch['data_samples']
    queries = model.roi_head.queries_from_proposals(
        model.rpn_head.predict((), samples))
    return batch['inputs'], samples, queries


def capture_rows(model, shape, batch_size: int) -> Dict[str, object]:
    """The ``dynamo`` and ``residue`` rows (see the module)."""
    model.train()
    inputs, samples, queries = _train_inputs(model, shape, batch_size)
    explain = torch._dynamo.explain(model.train_forward)(inputs, *queries)
    torch._dynamo.reset()
    loss = profiler_op_count(lambda: model.loss(inputs, samples))
    forward = profiler_op_count(lambda: model.train_forward(inputs, *queries))
    model.eval()
    return dict(
        graphs=explain.graph_count,
        graph_breaks=explain.graph_break_count,
        break_reasons=[str(r.reason) for r in explain.break_reasons][:3],
        loss_ops=loss['operators'],
        forward_ops=forward['operators'],
        residue=loss['operators'] - forward['operators'])


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='input shapes, graph breaks and the eager residue of the '
        'replayed training step (CPU)')
    p.add_argument('configs', nargs='+')
    add_arguments(
        p,
        dict(shape="of the dynamo and residue rows' clips (default: the "
             "config's clip_len x 64 x 80)"),
        shape=None,
        batch_size=2,
        threads=1,
        seed=0,
        json=None)
    p.add_argument('--epoch-clips', type=int, default=200000)
    args = p.parse_args(argv)
    if args.epoch_clips < 1:
        p.error('--epoch-clips must be >= 1')
    return args


def _cell(value) -> str:
    """A table cell: a share as a percentage, anything else as text."""
    return f'{100 * value:.1f} %' if isinstance(value, float) else str(value)


def run(configs: List[str],
        shape,
        batch_size: int,
        seed: int,
        epoch_clips: int,
        json=None) -> List[dict]:
    """The rows of every config (printed; ``json``: also written)."""
    rows = []
    for name, path in named_configs(configs):
        cfg = config_or_exit(path)
        row = dict(config=name, **shape_row(cfg, epoch_clips, seed))
        model = build_random_model(cfg, seed,
                                   dict(model=dict(graph_train_cfg=None)))
        row.update(
            capture_rows(model, clip_shape(cfg, shape, (64, 80)), batch_size))
        rows.append(row)
    head = ('config', 'batches', 'shapes', 'shapes (range, no list)',
            'most common', 'padded', 'padded (official)', 'extra', 'graphs',
            'breaks', 'loss ops', 'forward ops', 'residue')
    keys = ('batches', 'shapes', 'shapes_before', 'most_common', 'padded',
            'padded_official', 'padded_extra', 'graphs', 'graph_breaks',
            'loss_ops', 'forward_ops', 'residue')
    print(f'torch {torch.__version__}; epoch of {epoch_clips} clips; dynamo '
          f'and residue: B = {batch_size}, clips '
          f'{"x".join(map(str, shape)) if shape else "clip_len x 64 x 80"}')
    print(
        format_table([head] +
                     [[r['config'][:40]] + [_cell(r[k]) for k in keys]
                      for r in rows]))
    if json:
        write_json(json, rows)
    return rows


def main(argv=None):
    return run(**with_threads(parse_args(argv)))


if __name__ == '__main__':
    main()
