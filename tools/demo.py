"""Spatio-temporal action detection demo: videos, frame folders, folders of
videos, webcams and streams.

    python tools/demo.py INPUT CONFIG CHECKPOINT [--out-dir DIR]
        [--stride N] [--label-map FILE.pbtxt] [--person-thr P]
        [--score-thr 0.3] [--device cpu] [--non-strict] [--codec h264]
        [--cfg-options KEY=VALUE ...] [--no-progress]
        [--tubes [--tube-iou 0.5]]
        [--online [--realtime] [--show] [--max-frames N] [--max-lost 3]]

INPUT is a video file (anything OpenCV reads), a folder of frames (sorted
by name), a folder of videos (each processed in turn, one output each), a
webcam index (``0``) or a stream URL (``rtsp://...``, ``http://...``).
Every ``--stride`` frames a keyframe is detected from the clip around it
(the config's clip length and frame interval) by
:class:`~stmixer_mm.apis.STMixerInferencer`. The video is written as an
H.264 mp4 that browsers play (PyAV; ``--codec mp4v`` for OpenCV's MPEG-4).

Offline (default, files and folders): the input is read twice, so that
memory does not grow with its length: first the keyframes are detected
as the frames stream through the inferencer's ring buffer (a progress bar
over the keyframes; ``--no-progress`` hides it), then the frames are
decoded again and each is drawn with the detections of its nearest
keyframe, in the online demo's style (boxes with their actions, labels
kept inside the frame). ``<out-dir>/<name>_det.mp4`` and the detections
as ``.json`` and ``.csv`` are written after the last frame.
``--cfg-options key=value ...`` overrides settings of the config.

``--online`` (implied by a webcam, a stream and ``--realtime``): the
frames stream through a ring buffer of the frames the next clip needs
(memory stays flat on any length), decoding, the model and writing overlap
in threads, every person gets a track id as soon as it is seen (online
linking with the tube metric's box IoU ``--tube-iou``; a person lost for
up to ``--max-lost`` keyframes keeps its id when it comes back near where
it was), and ``<name>_det.mp4``, ``<name>_det.jsonl`` (one line per
keyframe, written as it goes: frame, time, per person track id, box in
pixels, person score, top actions) and ``<name>_tracks.json`` (track
summaries and run statistics) are written. A progress line shows frames
read, keyframes done / skipped, model speed and end-to-end lag.
``--realtime`` reads a file at its frame rate, as a camera delivers it,
and skips the keyframes the model has no time for (counted) instead of
queueing them. ``--show`` opens a window (where a display exists; ``q``
stops). Ctrl-C stops a webcam and closes the outputs properly.

A detection is a query whose person score reaches ``--person-thr`` (default:
the config's ``test_cfg.person_threshold``); offline it is listed when at
least one action scores ``--score-thr``, online every person is tracked
and lists its actions above ``--score-thr``. The fallback queries that the
AVA evaluation keeps below the person threshold (``test_cfg.num_fallback``)
are switched off, so a video without people gives no detections. The
checkpoint must fit the config (``--non-strict`` loads the matching part).

Output names and safety: the outputs of an input are named by its stem
(``clip.mp4`` gives ``clip_det.mp4``, ...; a frame folder its name, a
webcam ``webcam<N>``). Where two videos of a folder of videos share a stem
(``clip.mp4`` and ``clip.avi``) each of them is named by its whole file
name instead (``clip.mp4_det.json``, ``clip.avi_det.json``), and if that
still leaves two the same, every video of the folder is. Nothing is
overwritten: an output path that exists (an earlier run's result, a
folder, a second demo writing to the same ``--out-dir``) is refused with
an error naming it, before the input is read (the check and the creation
of a file are one atomic step, so two concurrent runs never write one
file): remove it or choose another ``--out-dir``. The video and the
``.json`` / ``.csv`` files are written under a hidden temporary name
(``.<stem>.<pid>.part<ext>``) and renamed when complete. A write that
fails (a full disk) names the file, what was written of it and the error.

SIGTERM, SIGINT or SIGHUP (a timeout, ``docker stop``, Slurm, Ctrl-C, a
closed terminal): with ``--online`` the run stops, and the frames read so
far are kept in a playable mp4, the keyframes done in the ``.jsonl`` and
the tracks so far in ``_tracks.json``; offline the outputs of the input
being processed are not written (the partial files are removed; the inputs
before it of a folder of videos are complete). Either way a line says what
was kept and the demo exits with 128 + the signal number (143 for SIGTERM,
130 for SIGINT, 129 for SIGHUP).

``--tubes`` (offline) links the detections of consecutive keyframes into
per-person tubes with
:func:`~stmixer_mm.evaluation.functional.link_person_tubes` (the greedy
linking of the tube metric, class agnostic: each tube takes, at the next
keyframe, the best-scoring unassigned person box overlapping its last box
by IoU >= ``--tube-iou``, and is labelled with its best mean action),
writes them to ``<name>_tubes.json`` (tube id, frames, boxes, action,
score, ...), adds ``tube_id`` to every detection of the ``.json`` and
draws ``T<id>`` on every box of the video.
"""
import argparse
import csv
import json
import os.path as osp
import sys
from collections import Counter

import numpy as np
from mmengine.config import DictAction

from stmixer_mm.apis import LabelMapError, STMixerInferencer
from stmixer_mm.apis.inferencers.stmixer_inferencer import CountingSource
from stmixer_mm.apis.online import (OnlineRunner, OutputFileError, OutputFiles,
                                    RunInterrupted, VideoReadError,
                                    VideoWriter, expand_inputs, is_live_spec,
                                    on_stop_signals, open_source,
                                    output_exists_error, prepare_out_dir,
                                    signal_name)
from stmixer_mm.apis.online.sources import check_fps
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.evaluation.functional import link_person_tubes
from stmixer_mm.utils import (CheckpointFileError, ConfigFileError,
                              ConfigSettingError)
from stmixer_mm.visualization import draw_tracks, format_action_labels


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'must be a positive number of frames, got {value}')
    return value


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f'must be in [0, 1], got {value}')
    return value


def frame_rate(text: str) -> float:
    """``--fps``: checked by the sources' rule (finite, > 0)."""
    try:
        value = float(text)
    except ValueError:
        value = text  # check_fps names what is not a number
    try:
        return check_fps(value, '--fps')
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='STMixer video demo')
    p.add_argument(
        'input',
        help='video file, folder of frames, folder of videos, webcam index '
        '(0) or stream URL (rtsp://..., http://...)')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument(
        '--out-dir',
        default='outputs/demo',
        help='folder of the outputs (created); an output that exists '
        'there already is refused, never overwritten. Outputs are named by '
        'the input\'s stem (clip_det.mp4), by the whole file name where '
        'two videos of a folder share a stem (clip.mp4_det.mp4)')
    p.add_argument(
        '--stride',
        type=positive_int,
        default=8,
        help='frames between two keyframes (>= 1)')
    p.add_argument(
        '--label-map',
        help='AVA label map (.pbtxt, 1-based ids) or ACT ground-truth '
        "pickle (.pkl, its 'labels'); checked against the model's action "
        "columns. Default: the config's test dataset label_file or "
        "TubeDataset classes, else the checkpoint's dataset_meta")
    p.add_argument(
        '--person-thr',
        type=unit_float,
        default=None,
        help='keep persons scoring at least this (default: the '
        "config's test_cfg.person_threshold)")
    p.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='show actions scoring at least this')
    p.add_argument(
        '--non-strict',
        action='store_true',
        help='load a checkpoint that does not fit the config in '
        'part (the mismatched keys are logged)')
    p.add_argument(
        '--topk', type=at_least_one, default=3, help='actions per person')
    p.add_argument(
        '--fps',
        type=frame_rate,
        help='frame rate of a frame folder / output fps (default: the '
        "video's, 30 for a frame folder)")
    p.add_argument('--device', default='cpu')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value (as tools/test.py)')
    p.add_argument(
        '--no-progress',
        dest='progress',
        action='store_false',
        help='offline: no progress bar over the keyframes')
    p.add_argument(
        '--codec',
        choices=('h264', 'mp4v'),
        default='h264',
        help='h264: an mp4 browsers play (PyAV; falls back with a warning '
        "where it cannot); mp4v: OpenCV's MPEG-4")
    p.add_argument(
        '--online',
        action='store_true',
        help='stream the input: bounded memory, threads, online track '
        'ids, a JSON Lines file written as it goes (implied by a webcam, '
        'a stream and --realtime)')
    p.add_argument(
        '--realtime',
        action='store_true',
        help='read a file at its frame rate and skip the keyframes the '
        'model has no time for (implies --online)')
    p.add_argument(
        '--show',
        action='store_true',
        help='with --online: show the frames in a window (where a display '
        'exists; q stops)')
    p.add_argument(
        '--max-frames',
        type=positive_int,
        help='with --online: stop after this many frames')
    p.add_argument(
        '--max-lost',
        type=int,
        default=3,
        help='with --online: keyframes a person may be missed and keep its '
        'track id (default 3)')
    p.add_argument(
        '--tubes',
        action='store_true',
        help='link the detections into per-person tubes: '
        '<name>_tubes.json, tube ids drawn on the boxes')
    p.add_argument(
        '--tube-iou',
        type=unit_float,
        default=0.5,
        help='IoU a box needs with the last box of a tube (--tubes) or '
        'track (--online) to extend it (default 0.5, as the tube metric)')
    args = p.parse_args(argv)
    if args.realtime or is_live_spec(args.input):
        args.online = True
    if args.online and args.tubes:
        p.error('--tubes links offline after the last frame; --online '
                'links as it goes (track ids in the .jsonl): use one')
    if not args.online and (args.show or args.max_frames):
        p.error('--show and --max-frames need --online')
    if args.max_lost < 0:
        p.error(f'--max-lost must be >= 0, got {args.max_lost}')
    return args


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


def run_demo(args, capture_factory=None):
    """Run the demo; returns the result of the input (a list of them for a
    folder of videos)."""
    inputs = expand_inputs(args.input)
    names = output_names(inputs, args.input)
    # an output folder that is a file, and outputs that exist already,
    # before the model loads (created, and claimed atomically, when an
    # input starts)
    prepare_out_dir(args.out_dir, create=False)
    for name in names:
        for path in (output_paths(args, name).values() if name else ()):
            if path is not None and osp.lexists(path):
                raise output_exists_error(path)
    # the model, and the names of its columns checked against it, before
    # any frame is decoded
    inferencer = STMixerInferencer(
        args.config,
        args.checkpoint,
        device=args.device,
        label_map=args.label_map,
        person_thr=args.person_thr,
        strict=not args.non_strict,
        cfg_options=args.cfg_options)
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
        capture_factory=capture_factory)
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
        outputs = OutputFiles(output_paths(args, name or source.name))
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
    results = inferencer.iter_results(counted, stride=args.stride)
    if args.progress:
        results = _progress(results, source, args.stride)
    for res, _ in results:
        k, boxes, scores, person = (res.frame, res.bboxes, res.scores,
                                    res.person_scores)
        texts = [
            format_action_labels(s, names, args.score_thr, args.topk)
            for s in scores
        ]
        keep = [
            i for i, t in enumerate(texts) if t and person[i] >= person_thr
        ]
        kept[k] = (boxes[keep], scores[keep], person[keep])
        persons = []
        for i in keep:
            actions = inferencer.top_actions(scores[i], args.score_thr,
                                             args.topk)
            persons.append(
                dict(
                    bbox=boxes[i],
                    person_score=float(person[i]),
                    actions=actions))
            detections.append(
                dict(
                    frame=int(k),
                    time=round(k / fps, 3),
                    bbox=[round(float(v), 1) for v in boxes[i]],
                    person_score=round(float(person[i]), 4),
                    actions=actions))
        per_key[k] = persons
    n = counted.num_read
    if not n:
        raise VideoReadError(f'{spec}: no frames')
    w, h = counted.frame_size
    keyframes = list(range(min(args.stride // 2, n - 1), n, args.stride))
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
                        header=f'frame {i} | keyframe {k}'))
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


def _progress(results, source, stride):
    """``results`` with mmengine's progress bar over the keyframes (their
    number where the source announces its frames)."""
    from mmengine.utils import ProgressBar
    total = getattr(source, 'num_frames', None)
    bar = ProgressBar(
        len(range(min(stride // 2, total - 1), total, stride)) if total else 0,
        file=sys.stderr)
    for item in results:
        bar.update()
        yield item
    sys.stderr.write('\n')


def main(argv=None):
    try:
        return run_demo(parse_args(argv))
    except RunInterrupted as e:
        print(f'\ntools/demo.py: {e}', file=sys.stderr)
        sys.exit(e.exit_code)
    except OutputFileError as e:
        raise SystemExit(f'tools/demo.py: {e}') from None
    except CheckpointMismatchError as e:
        raise SystemExit(
            f'tools/demo.py: {e.describe("--non-strict")}') from None
    except (LabelMapError, ConfigFileError, CheckpointFileError,
            VideoReadError) as e:
        raise SystemExit(f'tools/demo.py: {e}') from None
    except ConfigSettingError as e:
        raise SystemExit(f'tools/demo.py: config: {e}') from None


if __name__ == '__main__':
    main()
