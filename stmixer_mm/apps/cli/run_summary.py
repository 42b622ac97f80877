"""The block ``tools/train.py`` and ``tools/test.py`` print when a run
ends: where its results are (checkpoint, log, metrics, outputs, a picture
of predictions) and what to run next."""
import numbers
import os.path as osp
import shlex
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.hooks import CheckpointHook

from stmixer_mm.apps.benchmarks.flops import default_clip_len
from stmixer_mm.apps.command_errors import command_name
from stmixer_mm.apps.prediction_grid import grid_problem, make_grid
from stmixer_mm.engine.hooks import KeepPredictionsHook
from .commands import command

__all__ = [
    'format_summary', 'format_metrics', 'summary_after_train',
    'summary_after_test', 'draw_test_picture', 'PICTURE_NAME'
]

#: the picture of the test summary, in ``<work_dir>/<timestamp>/``
PICTURE_NAME = 'test_predictions.png'
#: metrics listed at most (the rest are in the log)
MAX_METRICS = 8


def format_summary(title: str, rows: Sequence[Tuple[str, str]]) -> str:
    """``title``, then ``  name : value`` per row, the names aligned."""
    width = max(len(name) for name, _ in rows)
    lines = [title]
    for name, value in rows:
        first, *rest = str(value).split('\n')
        lines.append(f'  {name:<{width}} : {first}')
        lines += [' ' * (width + 5) + line for line in rest]
    return '\n'.join(lines)


def format_metrics(metrics: Dict) -> str:
    """``name value, ...`` of the numeric metrics (4 decimals), at most
    :data:`MAX_METRICS`; ``''`` when there is none."""
    items = [(k, v) for k, v in metrics.items() if isinstance(v, numbers.Real)]
    text = ', '.join(f'{k} {float(v):.4f}' for k, v in items[:MAX_METRICS])
    if len(items) > MAX_METRICS:
        text += f' (+{len(items) - MAX_METRICS} more in the log)'
    return text


def _hook_of(runner, cls):
    """The runner's hook of type ``cls``, or None."""
    return next((h for h in runner.hooks if isinstance(h, cls)), None)


def _log_file(runner) -> str:
    return osp.join(runner.log_dir, f'{runner.timestamp}.log')


def _last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``<work_dir>/last_checkpoint`` names, or None."""
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return f.read().strip() or None
    except OSError:
        return None


def _best_checkpoint(runner) -> Optional[Tuple[str, str, float]]:
    """``(metric, path, score)`` of ``CheckpointHook``'s best checkpoint
    (first ``save_best`` metric), or None."""
    hook = _hook_of(runner, CheckpointHook)
    if hook is None or not getattr(hook, 'save_best', None):
        return None
    key = hook.key_indicators[0]
    info = runner.message_hub.runtime_info
    if len(hook.key_indicators) == 1:
        path, score = getattr(hook, 'best_ckpt_path', None), \
            info.get('best_score')
    else:
        path = hook.best_ckpt_path_dict.get(key)
        score = info.get(f'best_score_{key}')
    return (key, path, score) if path else None


def _last_val_metrics(runner) -> Dict[str, float]:
    """The last validation's ``val/<name>`` scalars, without timings."""
    return {
        k[len('val/'):]: buf.current()
        for k, buf in runner.message_hub.log_scalars.items()
        if k.startswith('val/') and k not in ('val/time', 'val/data_time')
    }


def _next_commands(config: str, checkpoint: str, cfg,
                   work_dir: str) -> List[str]:
    """What to run with a trained checkpoint: test, demo, ONNX export."""
    q = shlex.quote
    try:
        frames = default_clip_len(cfg)
    except ValueError:
        frames = 'T'
    onnx = osp.join(work_dir, 'model.onnx')
    return [
        f'{command("test")} {q(config)} {q(checkpoint)}',
        f'{command("demo")} VIDEO {q(config)} {q(checkpoint)}',
        f'{command("export-onnx")} {q(config)} '
        f'{q(checkpoint)} {q(onnx)} --shape {frames} H W --verify',
        '(VIDEO: a video file, a frame folder or a webcam index; H W: the '
        "frame size after the test pipeline's resize)"
    ]


def _why_no_validation(runner) -> str:
    """Why a training run ends without a validation: none configured, or
    the run stopped before the loop's first one (``val_begin``)."""
    loop = getattr(runner, '_train_loop', None)
    if getattr(runner, '_val_loop',
               None) is None or not hasattr(loop, 'val_begin'):
        return 'none: no validation ran (--no-validate, or no val_cfg)'
    by_epoch = hasattr(loop, 'max_epochs')
    unit = 'epoch' if by_epoch else 'iteration'
    done, end = (loop.epoch, loop.max_epochs) if by_epoch else (loop.iter,
                                                                loop.max_iters)
    return (f'none: the training stopped at {unit} {done} of {end}, before '
            f'its first validation (train_cfg.val_begin={loop.val_begin}, '
            f'val_interval={loop.val_interval})')


def summary_after_train(runner, config: str) -> str:
    """The block printed when ``tools/train.py`` ends (see the module)."""
    best = _best_checkpoint(runner)
    checkpoint = best[1] if best else _last_checkpoint(runner.work_dir)
    if best:
        saved = f'{checkpoint} (the best {best[0]}: {best[2]:.4f})'
    elif checkpoint:
        saved = (f'{checkpoint} (the last; no best checkpoint: the '
                 "config's CheckpointHook has no save_best)")
    else:
        saved = 'none saved (see default_hooks.checkpoint of the config)'
    metrics = format_metrics(_last_val_metrics(runner))
    rows = [
        ('work dir', runner.work_dir),
        ('checkpoint', saved),
        ('log', f'{_log_file(runner)} (curves: vis_data/scalars.json '
         'beside it)'),
        ('final metrics', f'{metrics} (the last validation)'
         if metrics else _why_no_validation(runner)),
        ('next', '\n'.join(
            _next_commands(config, checkpoint or 'CHECKPOINT', runner.cfg,
                           runner.work_dir))),
    ]
    return format_summary(f'{command_name()}: done', rows)


def draw_test_picture(runner) -> str:
    """Draw the predictions :class:`KeepPredictionsHook` kept beside the
    ground truth into the log dir; returns the path, or why not drawn."""
    hook = _hook_of(runner, KeepPredictionsHook)
    dataset = runner.test_dataloader.dataset
    problem = grid_problem(dataset)
    if problem is None and not (hook and hook.predictions):
        problem = 'no prediction was kept (KeepPredictionsHook)'
    if problem is not None:
        return f'not drawn: {problem}'
    out_file = osp.join(runner.log_dir, PICTURE_NAME)
    try:
        make_grid(runner.cfg, hook.predictions, out_file, dataset=dataset)
    except (KeyError, ValueError, OSError) as e:
        return f'not drawn: {type(e).__name__}: {e}'
    return (f'{out_file} (ground truth left, predictions right, '
            f'{len(hook.predictions)} keyframes)')


def summary_after_test(args, runner, metrics: Dict, picture: str) -> str:
    """The block printed when ``tools/test.py`` ends (see the module);
    ``picture``: :func:`draw_test_picture`'s line."""
    rows = [('metrics', format_metrics(metrics) or 'none'),
            ('work dir', runner.work_dir), ('log', _log_file(runner))]
    if args.dump:
        rows.append(('predictions', f'{args.dump} (--dump)'))
    if args.show_dir:
        rows.append(('drawings', f'{osp.join(runner.log_dir, args.show_dir)} '
                     '(--show-dir)'))
    rows.append(('picture', picture))
    return format_summary(f'{command_name()}: done', rows)
