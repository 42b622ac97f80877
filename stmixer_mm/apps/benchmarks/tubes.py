"""What the tube experiments share (``tools/experiments/benchmark_tubes.py``,
``benchmark_tracking.py``, ``rescore_tubelets.py``): their data, test-only
configs, the predictions of ``tools/test.py --dump`` and their scores."""
import os
import os.path as osp
import pickle

from mmengine.config import Config

from stmixer_mm.registry import METRICS
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_pickle)


def load_predictions(path: str) -> list:
    """The data samples a ``DumpResults`` evaluator wrote to ``path``,
    unpickled under the tensors' allow-list (a file asking for anything
    else raises :class:`CheckpointFileError` naming it)."""
    try:
        predictions = load_pickle(path, 'tensors', 'dumped predictions')
    except CheckpointFileError:  # a refused global
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read the dumped predictions '
                         f'({type(exc).__name__}: {exc})') from exc
    if not isinstance(predictions, list) or not all(
            isinstance(p, dict) and 'pred_instances' in p
            for p in predictions):
        raise ValueError(f'{path}: expected the list of data samples that '
                         "DumpResults writes (dicts with 'pred_instances')")
    return predictions


def subset_gt(ann_file: str, num_videos: int, out_file: str) -> str:
    """A copy of an ACT pickle whose test split is its first
    ``num_videos`` test videos (0: the whole split)."""
    gt = load_pickle(ann_file, 'numpy', 'ACT ground-truth file')
    if num_videos:
        gt['test_videos'] = [list(gt['test_videos'][0][:num_videos])]
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'wb') as f:
        pickle.dump(gt, f)
    return out_file


def use_tube_set(cfg: Config, paths: dict, ann_file: str) -> None:
    """Point the config's data loaders at a generated tube set (``paths`` of
    ``generate_synthetic_tubes``), the annotations ``ann_file``."""
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.ann_file = ann_file
        loader.dataset.data_prefix = dict(img=paths['rawframes'])


def for_testing(cfg: Config, checkpoint: str) -> None:
    """Make ``cfg`` test ``checkpoint`` only: no training, no validation."""
    cfg.load_from = checkpoint
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.param_scheduler = cfg.val_dataloader = cfg.val_cfg = None
    cfg.val_evaluator = None


def score(metric_cfg: dict, samples: list) -> dict:
    """The metric of ``metric_cfg`` (its ``prefix`` left out) on the data
    samples."""
    metric_cfg = dict(metric_cfg)
    metric_cfg.pop('prefix', None)
    metric = METRICS.build(metric_cfg)
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)
