"""The output files of a run, named one way per caller: the demo's
(``<out_dir>/<name>_det.mp4`` ...; offline and online) and the
Inferencer's (DetInferencer's ``<out_dir>/vis/<name>.mp4`` and
``<out_dir>/preds/<name>.json``). No two inputs of one run get one name.
"""
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Tuple

__all__ = [
    'demo_output_names', 'demo_output_paths', 'inferencer_output_names',
    'inferencer_output_paths', 'inferencer_output_dirs'
]


def demo_output_names(inputs, spec):
    """The output stem of each input of ``spec``: None (the source's own
    name) for a single input; for the videos of a folder their stems, the
    whole file name for those sharing a stem with another (compared
    ignoring case, as some file systems do), every whole file name if
    that still leaves two the same."""
    if len(inputs) == 1 and inputs[0] == spec:
        return [None]
    stems = [osp.splitext(osp.basename(v))[0] for v in inputs]
    count = Counter(s.casefold() for s in stems)
    names = [
        osp.basename(v) if count[s.casefold()] > 1 else s
        for v, s in zip(inputs, stems)
    ]
    if len({n.casefold() for n in names}) < len(names):
        names = [osp.basename(v) for v in inputs]
    return names


def demo_output_paths(out_dir: str,
                      name: str,
                      online: bool = False,
                      tubes: bool = False,
                      write_video: bool = True) -> Dict[str, Optional[str]]:
    """``{kind: path}`` of the outputs of the input named ``name``, offline
    or ``online`` (None for the kinds not written)."""
    stem = osp.join(out_dir, name)
    if online:
        return dict(
            video=f'{stem}_det.mp4' if write_video else None,
            jsonl=f'{stem}_det.jsonl',
            tracks=f'{stem}_tracks.json')
    return dict(
        video=f'{stem}_det.mp4',
        json=f'{stem}_det.json',
        csv=f'{stem}_det.csv',
        tubes=f'{stem}_tubes.json' if tubes else None)


def inferencer_output_names(videos: list) -> List[str]:
    """The Inferencer's output name of each video: a path's stem (a frame
    folder's name), ``video_<i>`` for arrays; a name shared by two videos
    (ignoring case) gets the video's index appended (``clip_0``)."""
    names = [
        osp.splitext(osp.basename(osp.normpath(v)))[0]
        if isinstance(v, str) and osp.isfile(v) else
        osp.basename(osp.normpath(v)) if isinstance(v, str) else f'video_{i}'
        for i, v in enumerate(videos)
    ]
    folded = [n.casefold() for n in names]
    return [
        f'{n}_{i}' if folded.count(n.casefold()) > 1 else n
        for i, n in enumerate(names)
    ]


def inferencer_output_dirs(out_dir: str, vid_out_dir: str, no_save_vis: bool,
                           pred_out_dir: str,
                           no_save_pred: bool) -> Tuple[str, str]:
    """The folders of the Inferencer's drawn videos and predictions (``''``:
    not saved), as DetInferencer resolves them: ``<out_dir>/vis`` unless
    ``no_save_vis``; ``<out_dir>/preds`` only when not ``no_save_pred``
    (the Inferencer's default: True unless ``pred_out_dir`` is given); an
    explicit folder wins over ``out_dir``'s."""
    vid_out_dir, pred_out_dir = vid_out_dir or '', pred_out_dir or ''
    if not vid_out_dir and out_dir and not no_save_vis:
        vid_out_dir = osp.join(out_dir, 'vis')
    if no_save_vis:
        vid_out_dir = ''
    if not pred_out_dir and out_dir and not no_save_pred:
        pred_out_dir = osp.join(out_dir, 'preds')
    if no_save_pred:
        pred_out_dir = ''
    return vid_out_dir, pred_out_dir


def inferencer_output_paths(
        name: str,
        vid_out_dir: str = '',
        pred_out_dir: str = '') -> Dict[str, Optional[str]]:
    """``{'vis': <name>.mp4, 'pred': <name>.json}`` paths (None: unsaved)."""
    return dict(
        vis=osp.join(vid_out_dir, f'{name}.mp4') if vid_out_dir else None,
        pred=osp.join(pred_out_dir, f'{name}.json') if pred_out_dir else None)
