"""Library parts of ``tools/experiments/benchmark_tracking.py`` (the
tracking vs linking experiment)."""
import os
import os.path as osp
import pickle

from stmixer_mm.utils.checkpoint_loading import load_pickle


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
