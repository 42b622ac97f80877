"""The driver of ``tools/demo.py`` (command line:
:mod:`stmixer_mm.cli.demo`): offline and online runs, docs/en/online.md."""
import os
import os.path as osp
from functools import partial
from typing import Callable, Optional

from stmixer_mm.evaluation.functional import link_person_tubes
from stmixer_mm.utils.output_files import (OutputFileError,
                                           output_exists_error,
                                           prepare_out_dir)
from .inferencers import STMixerInferencer
from .online import OnlineRunner
from .results import (CSV_COLUMNS, KeyframeDrawer, ResultFormatter,
                      ResultWriter, demo_output_names, demo_output_paths)
from .stop_signals import RunInterrupted, on_stop_signals, signal_name
from .video_io import (CountingSource, VideoReadError, check_fps,
                       expand_inputs, is_live_spec, keyframe_indices,
                       open_source, source_name)


def check_demo_options(input,
                       online=False,
                       realtime=False,
                       tubes=False,
                       show=False,
                       max_frames=None,
                       max_lost=3) -> bool:
    """Whether the run is online (asked, ``realtime`` or a live input);
    ``ValueError`` for options that do not go together."""
    online = bool(online or realtime or is_live_spec(input))
    if online and tubes:
        raise ValueError('--tubes links offline after the last frame; '
                         '--online links as it goes (track ids in the '
                         '.jsonl): use one')
    if not online and (show or max_frames):
        raise ValueError('--show and --max-frames need --online')
    if max_lost < 0:
        raise ValueError(f'--max-lost must be >= 0, got {max_lost}')
    return online


def _file_id(path):
    """``(device, inode)`` of the file ``path`` points to; None if none."""
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return st.st_dev, st.st_ino


def check_outputs(inputs, names, out_dir, overwrite=False, **paths_kwargs):
    """Refuse (``OutputFileError``) an ``out_dir`` that is a file, an output
    that is an input (or a link to one; also with ``overwrite``) or that
    exists (``overwrite`` replaces files, not folders)."""
    prepare_out_dir(out_dir, create=False)
    input_ids = {_file_id(spec)
                 for spec in inputs if not is_live_spec(spec)} - {None}
    for spec, name in zip(inputs, names):
        paths = demo_output_paths(out_dir, name or source_name(spec),
                                  **paths_kwargs)
        for path in paths.values():
            if path is None or not osp.lexists(path):
                continue
            if _file_id(path) in input_ids:
                raise OutputFileError(
                    f'{path}: the output would replace an input of this run '
                    '(or a link to one); refused, also with --overwrite: '
                    'choose another --out-dir')
            if not overwrite or osp.isdir(path):
                raise output_exists_error(path, overwrite_flag='--overwrite')


def run_demo(input,
             config,
             checkpoint,
             out_dir: str = 'outputs/demo',
             overwrite: bool = False,
             stride: int = 8,
             label_map: Optional[str] = None,
             person_thr: Optional[float] = None,
             score_thr: float = 0.3,
             non_strict: bool = False,
             topk: int = 3,
             fps: Optional[float] = None,
             device: str = 'cpu',
             cfg_options: Optional[dict] = None,
             progress: bool = True,
             codec: str = 'h264',
             online: bool = False,
             realtime: bool = False,
             show: bool = False,
             max_frames: Optional[int] = None,
             max_lost: int = 3,
             tubes: bool = False,
             tube_iou: float = 0.5,
             capture_factory: Optional[Callable] = None):
    """Run the demo on ``input`` (arguments: ``tools/demo.py``'s options);
    returns its result (a list for a folder of videos)."""
    online = check_demo_options(input, online, realtime, tubes, show,
                                max_frames, max_lost)
    fps = check_fps(fps)  # as the command line's --fps: a float
    inputs = expand_inputs(input)
    names = demo_output_names(inputs, input)
    check_outputs(
        inputs, names, out_dir, overwrite, online=online, tubes=tubes)
    inferencer = STMixerInferencer(
        config,
        checkpoint,
        device=device,
        label_map=label_map,
        person_thr=person_thr,
        strict=not non_strict,
        cfg_options=cfg_options,
        show_progress=progress)  # offline only (iter_results)
    shared = dict(
        out_dir=out_dir,
        stride=stride,
        fps=fps,
        score_thr=score_thr,
        topk=topk,
        overwrite=overwrite)
    if online:
        run_one = partial(
            run_online,
            realtime=realtime,
            video_codec=codec,
            show=show,
            link_iou=tube_iou,
            max_lost=max_lost,
            max_frames=max_frames,
            capture_factory=capture_factory,
            **shared)
    else:
        run_one = partial(
            run_offline, codec=codec, tubes=tubes, tube_iou=tube_iou, **shared)
    results = []
    for spec, name in zip(inputs, names):
        try:
            results.append(run_one(inferencer, spec, name=name))
        except RunInterrupted as e:
            if results:
                e.args = (f'{e}; the {len(results)} inputs before it are '
                          'complete', )
            raise
    return results[0] if names == [None] else results


def run_online(inferencer, spec, name=None, **runner_kwargs):
    """Run ``OnlineRunner(**runner_kwargs)`` on one input; its stats."""
    stats = OnlineRunner(inferencer, **runner_kwargs).run(spec, name=name)
    dropped = stats['frames_dropped']
    print(f'wrote {stats["video"]} ({stats["frames_written"]} frames, '
          f'{stats["codec"]}), {stats["jsonl"]}, {stats["tracks"]}: '
          f'{stats["keyframes_done"]} keyframes detected, '
          f'{stats["keyframes_skipped"]} skipped, {stats["num_tracks"]} '
          'track ids' + (f', {dropped} frames left out of the video (the '
                         'writer was behind)' if dropped else '') +
          f'; {stats["summary"]}')
    return stats


def run_offline(inferencer,
                spec,
                out_dir: str,
                name: Optional[str] = None,
                stride: int = 8,
                fps: Optional[float] = None,
                score_thr: float = 0.3,
                topk: int = 3,
                codec: str = 'h264',
                tubes: bool = False,
                tube_iou: float = 0.5,
                overwrite: bool = False) -> dict:
    """Detect, draw and write one input; an error or a signal removes the
    outputs not complete."""
    source = open_source(spec, fps=fps)
    try:  # ResultWriter makes out_dir
        out = ResultWriter(
            demo_output_paths(out_dir, name or source.name, tubes=tubes),
            fps=fps or source.fps,
            codec=codec,
            overwrite=overwrite)
    except BaseException:
        source.close()
        raise

    signals = []

    def interrupt(signum):
        if not signals:  # once: a second signal must not cut the cleanup
            signals.append(signum)
            raise RunInterrupted(signum, signal_name(signum))

    try:
        with on_stop_signals(interrupt):
            return _run_offline(
                inferencer, spec, source, out, stride, fps,
                ResultFormatter(inferencer.label_names, score_thr, topk,
                                inferencer.person_thr),
                tube_iou if tubes else None)
    except RunInterrupted as e:
        kept = out.abort()
        raise RunInterrupted(
            e.signum, f'{spec}: interrupted by {signal_name(e.signum)}; ' +
            (f'kept {", ".join(kept)} (complete), removed the partial rest'
             if kept else 'its outputs were not written (the partial files '
             'removed)')) from None
    except BaseException:
        out.abort()
        raise


def _run_offline(inferencer, spec, source, out, stride, fps, fmt, tube_iou):
    """Two passes (flat memory): detect the keyframes, then decode again and
    draw each frame with its nearest keyframe's (``tube_iou`` None: no
    tubes)."""
    detections = []
    per_key = {}  # keyframe -> drawing records of the kept persons
    kept = {}  # keyframe -> (boxes, action scores, person scores), kept
    counted = CountingSource(source)
    for res, _ in inferencer.iter_results(counted, stride=stride):
        res = fmt.keep(res)
        k = res.frame
        record = fmt.record(res)
        kept[k] = (res.bboxes, res.scores, res.person_scores)
        per_key[k] = fmt.persons(res)
        detections += [
            dict(frame=k, time=record['time'], **p) for p in record['persons']
        ]
    n = counted.num_read
    if not n:
        raise VideoReadError(f'{spec}: no frames')
    w, h = counted.frame_size
    keyframes = keyframe_indices(n, stride)
    assert sorted(per_key) == keyframes, (sorted(per_key), keyframes)

    tubes = None
    if tube_iou is not None:
        tubes, tube_ids = link_keyframe_tubes(keyframes, kept,
                                              inferencer.label_names, tube_iou)
        # detections were listed keyframe by keyframe in the kept order
        for d, tid in zip(detections,
                          (t for k in keyframes for t in tube_ids[k])):
            d['tube_id'] = tid
        for k, persons in per_key.items():
            for p, tid in zip(persons, tube_ids[k]):
                p['track_id'] = tid
    drawer = KeyframeDrawer(out, keyframes[0], stride)
    for k in keyframes:
        drawer.keyframe(k, dict(frame=k, persons=per_key.pop(k)))
    drawer.ended = True
    again = open_source(spec, fps=fps)
    try:
        for frame in again:
            i = frame.index
            if i >= n:
                break
            if frame.image.shape[:2] != (h, w):
                raise VideoReadError(
                    f'{spec}: frame {i} is {frame.image.shape[1]}x'
                    f'{frame.image.shape[0]} on the second reading but '
                    f'{w}x{h} on the first')
            drawer.frame(i, frame.image)
            drawer.flush()
    finally:
        again.close()
    if drawer.num_drawn != n:
        raise VideoReadError(
            f'{spec}: {n} frames on the first reading but '
            f'{drawer.num_drawn} on the second; the offline demo reads a '
            'file twice (use --online for a source that cannot be read '
            'again)')
    out.close()

    header = dict(
        input=spec,
        fps=fps or source.fps,
        frame_size=[w, h],
        person_threshold=fmt.person_thr,
        keyframes=keyframes)
    out.write_json('json', dict(header, detections=detections))
    out.write_csv('csv', CSV_COLUMNS, fmt.csv_rows(detections))
    print(f'\nwrote {out["video"]} ({n} frames), {out["json"]}, '
          f'{out["csv"]}: {fmt.summary()}')
    result = dict(
        video=out['video'],
        json=out['json'],
        csv=out['csv'],
        num_frames=n,
        detections=detections,
        summary=fmt.summary(),
        **fmt.counts)
    if tubes is not None:
        out.write_json('tubes', dict(header, link_iou=tube_iou, tubes=tubes))
        print(f'wrote {out["tubes"]}: {len(tubes)} tubes')
        result.update(tubes_json=out['tubes'], tubes=tubes)
    return result


def link_keyframe_tubes(keyframes, kept, names, link_iou):
    """JSON-ready tubes of ``kept`` (``{keyframe: (boxes [n, 4] px, scores
    [n, C] by label id, person scores [n])}``) and ``{keyframe: [tube id
    per detection]}``; unnamed columns of ``names`` are no action."""
    num_cols = next((s.shape[1] for _, s, _ in kept.values() if s.ndim == 2),
                    0)
    cols = [c for c in range(num_cols) if c in names]
    tubes = link_person_tubes(
        keyframes, [kept[k][0] for k in keyframes],
        [kept[k][1].reshape(-1, num_cols)[:, cols] for k in keyframes],
        [kept[k][2] for k in keyframes],
        labels=[names[c] for c in cols],
        link_iou=link_iou)
    tube_ids = {k: [None] * len(kept[k][0]) for k in keyframes}
    out = []
    for t in tubes:
        for f, i in zip(t['frames'], t['detection_indices']):
            tube_ids[f][i] = t['tube_id']
        out.append(
            dict(
                tube_id=t['tube_id'],
                frames=t['frames'],
                boxes=[[round(float(v), 1) for v in b] for b in t['boxes']],
                action=t['action'],
                score=round(t['score'], 4),
                box_scores=[round(v, 4) for v in t['box_scores']],
                action_scores=[round(v, 4) for v in t['action_scores']]))
    return out, tube_ids
