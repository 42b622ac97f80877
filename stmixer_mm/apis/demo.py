"""The demo's driver (``tools/demo.py``, ``demo/demo_spatiotemporal_det.py``,
their command line in :mod:`stmixer_mm.cli.demo`): inputs and their output
names, the offline run (two passes over a file: the keyframes detected,
then every frame drawn with its nearest keyframe's detections; JSON, CSV,
tubes) and the online one (:class:`~stmixer_mm.apis.online.OnlineRunner`).

:func:`run_demo` takes the parsed arguments (``argparse.Namespace`` of
:func:`stmixer_mm.cli.demo.parse_args`).
"""
import csv
import json
import os
import os.path as osp
from collections import Counter

import numpy as np

from stmixer_mm.evaluation.functional import link_person_tubes
from stmixer_mm.visualization import draw_tracks
from .inferencers import STMixerInferencer
from .inferencers.stmixer_inferencer import CountingSource
from .online import (OnlineRunner, OutputFileError, OutputFiles,
                     RunInterrupted, VideoReadError, VideoWriter,
                     expand_inputs, is_live_spec, on_stop_signals, open_source,
                     output_exists_error, prepare_out_dir, signal_name)
from .online.ring_buffer import keyframe_indices
from .online.sources import source_name


def output_names(inputs, spec):
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


def output_paths(args, name):
    """``{kind: path}`` of the outputs of the input named ``name``."""
    if args.online:
        return OnlineRunner.output_paths(args.out_dir, name)
    stem = osp.join(args.out_dir, name)
    return dict(
        video=f'{stem}_det.mp4',
        json=f'{stem}_det.json',
        csv=f'{stem}_det.csv',
        tubes=f'{stem}_tubes.json' if args.tubes else None)


def _file_id(path):
    """``(device, inode)`` of the file ``path`` points to; None if none."""
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return st.st_dev, st.st_ino


def check_outputs(args, inputs, names):
    """Refuse, before the model loads, every output of the run that may not
    be written: an ``--out-dir`` that is a file; an output that is one of
    the inputs (a video of the folder being processed, a link to it), even
    with ``--overwrite``; an output that exists, unless ``--overwrite``
    (which replaces files, not folders). The outputs are claimed
    atomically when their input starts.

    Raises:
        OutputFileError: naming the path and what to do.
    """
    prepare_out_dir(args.out_dir, create=False)
    input_ids = {_file_id(spec)
                 for spec in inputs if not is_live_spec(spec)} - {None}
    for spec, name in zip(inputs, names):
        for path in output_paths(args, name or source_name(spec)).values():
            if path is None or not osp.lexists(path):
                continue
            if _file_id(path) in input_ids:
                raise OutputFileError(
                    f'{path}: the output would replace an input of this run '
                    '(or a link to one); refused, also with --overwrite: '
                    'choose another --out-dir')
            if not args.overwrite or osp.isdir(path):
                raise output_exists_error(path, overwrite_flag='--overwrite')


def run_demo(args, capture_factory=None):
    """Run the demo; returns the result of the input (a list of them for a
    folder of videos)."""
    inputs = expand_inputs(args.input)
    names = output_names(inputs, args.input)
    check_outputs(args, inputs, names)
    # the model, and the names of its columns checked against it, before
    # any frame is decoded
    inferencer = STMixerInferencer(
        args.config,
        args.checkpoint,
        device=args.device,
        label_map=args.label_map,
        person_thr=args.person_thr,
        strict=not args.non_strict,
        cfg_options=args.cfg_options,
        # offline: the progress bar over the keyframes (iter_results)
        show_progress=args.progress)
    results = []
    for spec, name in zip(inputs, names):
        try:
            if args.online:
                results.append(
                    run_online(inferencer, spec, args, capture_factory, name))
            else:
                results.append(run_offline(inferencer, spec, args, name))
        except RunInterrupted as e:
            if results:
                e.args = (f'{e}; the {len(results)} inputs before it are '
                          'complete', )
            raise
    return results[0] if names == [None] else results


def run_online(inferencer, spec, args, capture_factory=None, name=None):
    runner = OnlineRunner(
        inferencer,
        stride=args.stride,
        realtime=args.realtime,
        out_dir=args.out_dir,
        video_codec=args.codec,
        show=args.show,
        score_thr=args.score_thr,
        topk=args.topk,
        link_iou=args.tube_iou,
        max_lost=args.max_lost,
        fps=args.fps,
        max_frames=args.max_frames,
        capture_factory=capture_factory,
        overwrite=args.overwrite)
    stats = runner.run(spec, name=name)
    print(f'wrote {stats["video"]} ({stats["frames_written"]} frames, '
          f'{stats["codec"]}), {stats["jsonl"]}, {stats["tracks"]}: '
          f'{stats["keyframes_done"]} keyframes detected, '
          f'{stats["keyframes_skipped"]} skipped, {stats["num_tracks"]} '
          'track ids' + (f', {stats["frames_dropped"]} frames left out of '
                         'the video (the writer was behind)'
                         if stats['frames_dropped'] else ''))
    return stats


def run_offline(inferencer, spec, args, name=None):
    """Detect, draw and write one input (``name``: the output stem, default
    the source's name). Its outputs are claimed before a frame is read
    and written under temporary names, renamed when complete; an error or
    SIGTERM / SIGINT (:class:`RunInterrupted`) removes the ones not
    complete."""
    source = open_source(spec, fps=args.fps)
    try:
        prepare_out_dir(args.out_dir)
        outputs = OutputFiles(
            output_paths(args, name or source.name), overwrite=args.overwrite)
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
            return _run_offline(inferencer, spec, args, source, outputs)
    except RunInterrupted as e:
        kept = outputs.release()
        raise RunInterrupted(
            e.signum, f'{spec}: interrupted by {signal_name(e.signum)}; ' +
            (f'kept {", ".join(kept)} (complete), removed the partial rest'
             if kept else 'its outputs were not written (the partial files '
             'removed)')) from None
    except BaseException:
        outputs.release()
        raise


def _run_offline(inferencer, spec, args, source, outputs):
    """Two passes over the source, so that memory does not grow with the
    video's length: the first detects keyframe after keyframe (the frames
    stream through the inferencer's ring buffer), the second decodes the
    frames again and draws each with the detections of its nearest
    keyframe."""
    names = inferencer.label_names
    person_thr = inferencer.person_thr
    fps = args.fps or source.fps

    detections = []
    per_key = {}  # keyframe -> (boxes, [{name: score}] per kept person)
    kept = {}  # keyframe -> (boxes, action scores, person scores), kept
    counted = CountingSource(source)
    for res, _ in inferencer.iter_results(counted, stride=args.stride):
        # the Inferencer's formatting (JSON) and drawing records; kept: the
        # persons with an action above --score-thr
        k = res.frame
        formatted = inferencer.format_result(res, args.score_thr, args.topk)
        drawn = inferencer.persons(res, args.score_thr, args.topk)
        keep = [
            i for i, p in enumerate(formatted['persons'])
            if p['actions'] and res.person_scores[i] >= person_thr
        ]
        kept[k] = (res.bboxes[keep], res.scores[keep], res.person_scores[keep])
        per_key[k] = [drawn[i] for i in keep]
        detections += [
            dict(
                frame=int(k),
                time=formatted['time'],
                **formatted['persons'][i]) for i in keep
        ]
    n = counted.num_read
    if not n:
        raise VideoReadError(f'{spec}: no frames')
    w, h = counted.frame_size
    keyframes = keyframe_indices(n, args.stride)
    assert sorted(per_key) == keyframes, (sorted(per_key), keyframes)

    tubes = tube_ids = None
    if args.tubes:
        tubes, tube_ids = link_keyframe_tubes(keyframes, kept, names,
                                              args.tube_iou)
        # detections were listed keyframe by keyframe in the kept order
        for d, tid in zip(detections,
                          (t for k in keyframes for t in tube_ids[k])):
            d['tube_id'] = tid
        for k, persons in per_key.items():
            for p, tid in zip(persons, tube_ids[k]):
                p['track_id'] = tid
    video_out = outputs['video']
    keys = np.array(keyframes)
    # second pass: the frames decoded again, drawn as the online demo
    # draws them (draw_tracks)
    again = open_source(spec, fps=args.fps)
    written = 0
    try:
        with VideoWriter(
                video_out, fps, codec=args.codec, exclusive=False) as writer:
            for frame in again:
                i = frame.index
                if i >= n:
                    break
                if frame.image.shape[:2] != (h, w):
                    raise VideoReadError(
                        f'{spec}: frame {i} is {frame.image.shape[1]}x'
                        f'{frame.image.shape[0]} on the second reading but '
                        f'{w}x{h} on the first')
                k = int(keys[np.abs(keys - i).argmin()])
                writer.write(
                    draw_tracks(
                        frame.image,
                        per_key[k],
                        header=f'frame {i} | keyframe {k}',
                        frame=i))
                written += 1
    finally:
        again.close()
    if written != n:
        raise VideoReadError(
            f'{spec}: {n} frames on the first reading but {written} on the '
            'second; the offline demo reads a file twice (use --online for '
            'a source that cannot be read again)')

    # what both JSON files (detections, tubes) say about the run
    header = dict(
        input=spec if isinstance(spec, str) else args.input,
        fps=fps,
        frame_size=[w, h],
        person_threshold=person_thr,
        keyframes=keyframes)
    json_out, csv_out = outputs['json'], outputs['csv']
    with outputs.open('json') as f:
        json.dump(dict(header, detections=detections), f, indent=1)
    with outputs.open('csv', newline='') as f:
        wr = csv.writer(f)
        wr.writerow([
            'frame', 'time', 'x1', 'y1', 'x2', 'y2', 'person_score', 'action',
            'score'
        ])
        for d in detections:
            for name, score in d['actions'].items():
                wr.writerow([
                    d['frame'], d['time'], *d['bbox'], d['person_score'], name,
                    score
                ])
    print(f'\nwrote {video_out} ({n} frames), {json_out}, {csv_out}: '
          f'{len(detections)} detections on {len(keyframes)} keyframes')
    result = dict(
        video=video_out,
        json=json_out,
        csv=csv_out,
        num_frames=n,
        detections=detections)
    if tubes is not None:
        tubes_out = outputs['tubes']
        with outputs.open('tubes') as f:
            json.dump(
                dict(header, link_iou=args.tube_iou, tubes=tubes), f, indent=1)
        print(f'wrote {tubes_out}: {len(tubes)} tubes')
        result.update(tubes_json=tubes_out, tubes=tubes)
    return result


def link_keyframe_tubes(keyframes, kept, names, link_iou):
    """Link the kept detections of the keyframes into per-person tubes.

    Args:
        keyframes (list[int]): 0-based frame of each keyframe, ascending.
        kept (dict): ``{keyframe: (boxes [n, 4] pixels, action scores
            [n, C] (column = label id), person scores [n])}``.
        names (dict): ``{label id: name}``; columns without a name (the
            AVA background column 0) are not actions.
        link_iou (float): Linking IoU.

    Returns:
        tuple: ``tubes`` (JSON-ready dicts: ``tube_id``, ``frames`` (0-based,
        as the detections' ``frame``), ``boxes`` (pixels, one per frame),
        ``action`` (the name of the best mean action), ``score`` (its mean
        score over the tube), ``box_scores`` (person scores),
        ``action_scores`` (that action's score per box)) and ``{keyframe:
        [tube id of each kept detection, in order]}``.
    """
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
