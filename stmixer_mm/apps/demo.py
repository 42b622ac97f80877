"""The driver of ``tools/demo.py`` (command line:
:mod:`stmixer_mm.apps.cli.demo`): offline and online runs,
docs/en/online.md."""
import copy
import os
import os.path as osp
from functools import partial
from typing import Callable, Optional

import numpy as np

from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apis.inferencers import STMixerInferencer
from stmixer_mm.apis.output_files import output_exists_error, prepare_out_dir
from stmixer_mm.apis.results import (CSV_COLUMNS, TUBES_FORMAT_VERSION,
                                     KeyframeDrawer, ResultFormatter,
                                     ResultWriter, demo_output_names,
                                     demo_output_paths)
from stmixer_mm.apis.tracking import (build_tracker, track_result,
                                      tracker_settings)
from stmixer_mm.apis.video_io import (CountingSource, VideoReadError,
                                      check_fps, expand_inputs, is_live_spec,
                                      keyframe_indices, open_source,
                                      source_name)
from .online import OnlineRunner
from .preflight import check_config
from .stop_signals import RunInterrupted, on_stop_signals, signal_name


def check_demo_options(input,
                       online=False,
                       realtime=False,
                       tubes=False,
                       show=False,
                       max_frames=None,
                       max_lost=None) -> bool:
    """Check the options of :func:`run_demo` that go together.

    Args:
        input (str | int): Video file, frame folder, folder of videos,
            webcam index or stream URL.
        online (bool): Stream the input. Defaults to False.
        realtime (bool): Read at the frame rate (implies online).
            Defaults to False.
        tubes (bool): Link tubes after the last frame (offline only).
            Defaults to False.
        show (bool): Show the frames in a window (online only).
            Defaults to False.
        max_frames (int, optional): Stop after this many frames (online
            only). Defaults to None.
        max_lost (int, optional): Keyframes a track may be missed, >= 0;
            None: the tracker's. Defaults to None.

    Returns:
        bool: Whether the run is online (asked, or implied by
        ``realtime`` or a webcam / stream input).

    Raises:
        ValueError: Naming the options that do not go together.
    """
    online = bool(online or realtime or is_live_spec(input))
    if online and tubes:
        raise ValueError('--tubes links offline after the last frame; '
                         '--online links as it goes (track ids in the '
                         '.jsonl): use one')
    if not online and (show or max_frames):
        raise ValueError('--show and --max-frames need --online')
    if max_lost is not None and max_lost < 0:
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
    """Refuse, before the model loads, every output that may not be
    written.

    Args:
        inputs (list[str | int]): One spec per video
            (:func:`~stmixer_mm.apis.video_io.expand_inputs`).
        names (list[str | None]): Output stem of each input
            (``demo_output_names``); None: the source's name.
        out_dir (str): Folder of the outputs.
        overwrite (bool): Allow replacing output files that exist (not
            folders, never an input). Defaults to False.
        **paths_kwargs: ``online`` / ``tubes`` of
            :func:`~stmixer_mm.apis.results.demo_output_paths`.

    Raises:
        OSError: ``out_dir`` is a file, or an output is an input
            (or a link to one; also with ``overwrite``), or exists
            (without ``overwrite``, or a folder).
    """
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
                raise OSError(
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
             max_lost: Optional[int] = None,
             tubes: bool = False,
             tube_iou: Optional[float] = None,
             capture_factory: Optional[Callable] = None):
    """Run the demo on one input; the arguments are ``tools/demo.py``'s
    options.

    Args:
        input (str | int): Video file, frame folder, folder of videos,
            webcam index or stream URL.
        config (str): Config file, ``stmixer_mm::<folder>/<config>.py`` or
            model name (:func:`~stmixer_mm.apis.config_files.resolve_config`).
        checkpoint (str): Checkpoint file.
        out_dir (str): Folder of the outputs (created). Defaults to
            ``'outputs/demo'``.
        overwrite (bool): Replace output files that exist, each when its
            new output is complete. Defaults to False.
        stride (int): Frames between two keyframes. Defaults to 8.
        label_map (str, optional): AVA ``.pbtxt`` / ACT ``.pkl`` of the
            action names; None: as ``datasets.class_names`` finds them.
            Defaults to None.
        person_thr (float, optional): Persons written score at least
            this, in [0, 1]; None: the config's
            ``test_cfg.person_threshold``. Defaults to None.
        score_thr (float): Actions listed score at least this, in
            [0, 1]. Defaults to 0.3.
        non_strict (bool): Load a checkpoint that fits the config only
            in part. Defaults to False.
        topk (int): Actions listed per person, at most. Defaults to 3.
        fps (float, optional): Frame rate of a frame folder (else 30,
            warned) or overriding a video's; also the output video's.
            Defaults to None.
        device (str): The model's device. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config.
            Defaults to None.
        progress (bool): Offline: a progress bar over the keyframes.
            Defaults to True.
        codec (str): ``'h264'`` (PyAV, with fallbacks) or ``'mp4v'``
            (OpenCV). Defaults to ``'h264'``.
        online (bool): Stream the input (``OnlineRunner``). Defaults to
            False.
        realtime (bool): Read a file at its frame rate and skip the
            keyframes the model has no time for; implies ``online``.
            Defaults to False.
        show (bool): Online: show the frames in a window. Defaults to
            False.
        max_frames (int, optional): Online: stop after this many frames.
            Defaults to None.
        max_lost (int, optional): Keyframes a person may be missed and
            keep its track id (offline and online); None: the config's
            ``tracker``'s (3 by default). Defaults to None.
        tubes (bool): Offline: also write the per-person tubes of the
            track ids (``<name>_tubes.json``). Defaults to False.
        tube_iou (float, optional): The greedy tracker's IoU a box needs
            with the last box of a track to extend it; None: the config's
            ``tracker``'s (0.5 by default). Defaults to None.
        capture_factory (callable, optional): Online: ``spec -> capture``
            in place of ``cv2.VideoCapture`` (tests). Defaults to None.

    Returns:
        dict | list[dict]: The result of :func:`run_offline` (or the
        stats of :func:`run_online`); a list of them, one per video,
        for a folder of videos.

    Raises:
        ValueError: Options that do not go together (or with the
            config's ``tracker``).
        OSError: An output may not be written (checked before
            the model loads).
        RunInterrupted: A stop signal; the inputs before it are complete.
    """
    online = check_demo_options(input, online, realtime, tubes, show,
                                max_frames, max_lost)
    fps = check_fps(fps)  # as the command line's --fps: a float
    cfg = load_config(config) if isinstance(config, str) else config
    if cfg_options:  # a misspelt name: its hint, before the outputs
        cfg = copy.deepcopy(cfg)  # are checked (they may exist)
        cfg.merge_from_dict(cfg_options)
    check_config(  # each part's refusal named by its config path
        cfg,
        sections=('model', 'test_dataloader', 'val_dataloader'),
        consistency=False)
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
    tracker = tracker_settings(
        inferencer.tracker_cfg,
        option_names=dict(link_iou='--tube-iou', max_lost='--max-lost'),
        link_iou=tube_iou,
        max_lost=max_lost)
    build_tracker(tracker)  # checked before a frame is read
    shared = dict(
        out_dir=out_dir,
        stride=stride,
        fps=fps,
        score_thr=score_thr,
        topk=topk,
        overwrite=overwrite,
        tracker=tracker)
    if online:
        run_one = partial(
            run_online,
            realtime=realtime,
            video_codec=codec,
            show=show,
            max_frames=max_frames,
            capture_factory=capture_factory,
            **shared)
    else:
        run_one = partial(run_offline, codec=codec, tubes=tubes, **shared)
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
    """Stream one input through an ``OnlineRunner`` and print what was
    written.

    Args:
        inferencer (STMixerInferencer): The model and its settings.
        spec (str | int | FrameSource): The input.
        name (str, optional): Output stem; None: the source's name.
            Defaults to None.
        **runner_kwargs: The arguments of ``OnlineRunner``.

    Returns:
        dict: :meth:`OnlineRunner.run`'s statistics and output paths.
    """
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
                overwrite: bool = False,
                tracker: Optional[dict] = None) -> dict:
    """Detect, draw and write one input; an error or a signal
    (:class:`RunInterrupted`) removes the outputs not complete.

    Args:
        inferencer (STMixerInferencer): The model and its settings.
        spec (str): Video file or frame folder (read twice).
        out_dir (str): Folder of the outputs (created).
        name (str, optional): Output stem; None: the source's name.
            Defaults to None.
        stride (int): Frames between two keyframes. Defaults to 8.
        fps (float, optional): Frame rate of a frame folder / output
            video; None: the source's. Defaults to None.
        score_thr (float): Actions listed score at least this. Defaults
            to 0.3.
        topk (int): Actions listed per person, at most. Defaults to 3.
        codec (str): ``'h264'`` or ``'mp4v'``. Defaults to ``'h264'``.
        tubes (bool): Also write the per-person tubes of the track ids.
            Defaults to False.
        overwrite (bool): Replace output files that exist. Defaults to
            False.
        tracker (dict, optional): ``dict(type=...)`` of
            :func:`~stmixer_mm.apis.tracking.build_tracker`, as
            the online runner's; None: the inferencer's ``tracker_cfg``.
            Defaults to None.

    Returns:
        dict: ``video``, ``json``, ``csv`` (paths; the JSON is a result
        document of docs/en/result_format.md, read back by
        :func:`~stmixer_mm.apis.results.read_result`), ``num_frames``,
        ``detections`` (the persons of the JSON's ``keyframes`` in one
        list, each with its keyframe's ``frame`` and ``time``:
        ``track_id`` (the online runner's for the same video and
        settings), ``bbox`` (x1, y1, x2, y2) in pixels,
        ``person_score``, ``actions`` ``{name: score}``, ...; with
        ``tubes`` its ``tube_id``), ``summary`` (str), the counts of
        ``ResultFormatter.counts`` (``keyframes``, ``persons``,
        ``persons_with_action``, ``persons_removed``); with ``tubes``
        also ``tubes_json`` (path) and ``tubes`` (as
        :func:`keyframe_tubes`).

    Raises:
        VideoReadError: No frames, or the second reading differs.
        RunInterrupted: A stop signal (the complete outputs kept).
    """
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
                tracker_settings(inferencer.tracker_cfg if tracker is
                                 None else tracker), tubes)
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


def _run_offline(inferencer, spec, source, out, stride, fps, fmt, tracker,
                 tubes):
    """Two passes (flat memory): detect and track the keyframes, then
    decode again and draw each frame with its nearest keyframe's."""
    records = []  # the result's keyframes (ResultFormatter.record)
    per_key = {}  # keyframe -> drawing records of the kept persons
    kept = {}  # keyframe -> (boxes, action scores, person scores), kept
    track_ids = {}  # keyframe -> track id of each kept person
    online = build_tracker(tracker, inferencer.label_names)
    counted = CountingSource(source)
    for res, _ in inferencer.iter_results(counted, stride=stride):
        res = fmt.keep(res)
        k = res.frame
        track_ids[k] = track_result(online, res)
        records.append(fmt.record(res, track_ids[k]))
        if tubes:
            kept[k] = (res.bboxes, res.scores, res.person_scores)
        per_key[k] = fmt.persons(res)
    n = counted.num_read
    if not n:
        raise VideoReadError(f'{spec}: no frames')
    w, h = counted.frame_size
    keyframes = keyframe_indices(n, stride)
    assert sorted(per_key) == keyframes, (sorted(per_key), keyframes)

    if tubes:  # a tube per track id: tube_id = track_id
        tube_list = keyframe_tubes(keyframes, kept, track_ids,
                                   inferencer.label_names)
        for p in (p for r in records for p in r['persons']):
            p['tube_id'] = p['track_id']
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

    header = fmt.header(counted, stride, tracker, fps=fps or source.fps)
    out.write_json('json', dict(header, keyframes=records))
    out.write_csv('csv', CSV_COLUMNS, fmt.csv_rows(records))
    print(f'\nwrote {out["video"]} ({n} frames), {out["json"]}, '
          f'{out["csv"]}: {fmt.summary()}')
    result = {key: out[key] for key in ('video', 'json', 'csv')}
    result.update(
        num_frames=n,
        detections=[
            dict(frame=r['frame'], time=r['time'], **p) for r in records
            for p in r['persons']
        ],
        summary=fmt.summary(),
        **fmt.counts)
    if tubes:
        out.write_json(
            'tubes',
            dict(header, format_version=TUBES_FORMAT_VERSION, tubes=tube_list))
        print(f'wrote {out["tubes"]}: {len(tube_list)} tubes')
        result.update(tubes_json=out['tubes'], tubes=tube_list)
    return result


def link_keyframe_tubes(keyframes, kept, names, link_iou=0.5, tracker=None):
    """Track the kept detections of the keyframes into per-person tubes.

    Args:
        keyframes (list[int]): 0-based keyframes, ascending.
        kept (dict[int, tuple]): ``{keyframe: (boxes, scores,
            person_scores)}``: boxes (np.ndarray) shape (n, 4), (x1, y1,
            x2, y2) in pixels; action scores (np.ndarray) shape (n, C),
            column = label id; person scores (np.ndarray) shape (n, ).
        names (dict[int, str]): ``{label id: name}``; columns without a
            name (AVA's column 0) are no action.
        link_iou (float): The greedy tracker's IoU a box needs with a
            track's last box to extend it. Defaults to 0.5.
        tracker (dict, optional): ``dict(type=...)`` of
            :func:`~stmixer_mm.apis.tracking.build_tracker`; None:
            the greedy tracker with ``link_iou``. Defaults to None.

    Returns:
        tuple[list[dict], dict[int, list[int]]]: The tubes of
        :func:`keyframe_tubes` and ``{keyframe: [track id of each kept
        detection, in order]}``.
    """
    online = build_tracker(
        dict(type='GreedyTracker', link_iou=link_iou)
        if tracker is None else tracker, names)
    ids = {
        k: online.update(k, kept[k][0], kept[k][2], kept[k][1])
        for k in keyframes
    }
    return keyframe_tubes(keyframes, kept, ids, names), ids


def keyframe_tubes(keyframes, kept, track_ids, names):
    """The per-person tubes of tracked keyframe detections: one per track
    id, on the keyframes where that person was kept.

    Args:
        keyframes (list[int]): 0-based keyframes, ascending.
        kept (dict[int, tuple]): ``{keyframe: (boxes, scores,
            person_scores)}`` as :func:`link_keyframe_tubes` takes them.
        track_ids (dict[int, list[int]]): ``{keyframe: [track id of each
            kept detection, in order]}``.
        names (dict[int, str]): ``{label id: name}``; columns without a
            name (AVA's column 0) are no action.

    Returns:
        list[dict]: JSON-ready, by track id: ``tube_id`` (the track id),
        ``frames`` (0-based keyframes), ``boxes`` (pixels, one per
        frame), ``action`` (name of the best mean action; None without
        a named column), ``score`` (its mean), ``box_scores`` (person
        scores) and ``action_scores`` (that action's score per box).
    """
    num_cols = next((s.shape[1] for _, s, _ in kept.values() if s.ndim == 2),
                    0)
    cols = [c for c in range(num_cols) if c in names]
    members = {}  # track id -> [(keyframe, row)]
    for k in keyframes:
        for i, tid in enumerate(track_ids[k]):
            members.setdefault(int(tid), []).append((k, i))
    out = []
    for tid in sorted(members):
        rows = members[tid]
        scores = np.array([
            kept[k][1].reshape(-1, num_cols)[i, cols] for k, i in rows
        ]).reshape(len(rows), len(cols))
        best = int(np.argmax(scores.mean(axis=0))) if cols else None
        action = scores[:, best] if cols else np.zeros(0)
        out.append(
            dict(
                tube_id=tid,
                frames=[k for k, _ in rows],
                boxes=[[round(float(v), 1) for v in kept[k][0][i]]
                       for k, i in rows],
                action=names[cols[best]] if cols else None,
                score=round(float(action.mean()), 4) if cols else 0.0,
                box_scores=[round(float(kept[k][2][i]), 4) for k, i in rows],
                action_scores=[round(float(v), 4) for v in action]))
    return out
