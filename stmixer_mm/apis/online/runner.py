"""The online engine: read, detect, track and write a stream as it comes.

Over 450 lines: three threads and their stop protocol, half of it
documentation.

Three threads overlap the work; memory does not grow with the stream:

* the **reader** decodes the source frame by frame into a
  :class:`~stmixer_mm.apis.online.ClipRingBuffer` (only the frames the
  next keyframe clips sample) and hands every frame to the writer; when a
  keyframe's clip is complete it is given to the model. In ``realtime``
  mode a keyframe whose clip completes while the model is still busy is
  *skipped* (counted, never queued), so the lag stays at one inference
  plus the frames the clip needs after its keyframe; otherwise the reader
  waits for the model (every keyframe is detected).
* the **model** thread runs the clip through the
  :class:`~stmixer_mm.apis.STMixerInferencer`, links its persons to the
  tracks (:class:`~stmixer_mm.apis.online.OnlineTubeTracker`: ids from the
  frames seen so far only) and appends the keyframe to the JSON Lines file
  at once.
* the **writer** (the calling thread, so ``--show`` windows work) draws
  every frame with the tracks of its nearest keyframe as soon as that
  keyframe is done (or, skipped, with the last done before it), encodes it
  (H.264) and updates the progress line.

The lag of a keyframe runs from when it arrived (its read time; for a
file paced by ``realtime``, when a camera would have delivered it) to its
JSON line being written: the frames its clip needs after it
(``after / fps`` seconds) plus the inference, plus any wait for the model.

Queues are bounded: the reader waits for the writer, except in realtime
mode where a frame the writer has no room for is left out of the video
(counted as ``frames_dropped``).

Outputs (:mod:`~stmixer_mm.apis.online.writers`): the three files are
claimed together before the first frame is read (a path that exists, from
an earlier or a concurrent run, is refused: nothing is overwritten unless
``overwrite=True``, the demo's ``--overwrite``, replaces the files); the
mp4 appears under its name once its container is closed (it plays), the
track summaries once complete.

SIGTERM, SIGINT and SIGHUP (a timeout, ``docker stop``, Slurm, Ctrl-C, a
closed terminal) stop the run as :meth:`OnlineRunner.stop` does: the
frames read are written, the mp4 is closed, the JSON Lines hold every
keyframe done and the track summaries are written; then
:class:`RunInterrupted` is raised (the demo exits with 128 + the signal
number: 143, 130, 129). The handlers are installed
in the main thread only, for the run only (the previous ones are restored;
a signal that was ignored stays ignored).

(Over 400 lines because the three threads, their queues and their stop /
error protocol are one unit; about half the file is documentation.)
"""
import json
import os.path as osp
import queue
import signal
import threading
import time
import warnings
from collections import deque
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, Optional, Union

from stmixer_mm.utils.settings_specs import check_probability
from stmixer_mm.visualization import draw_tracks
from stmixer_mm.visualization.display import has_display
from .capture import open_source
from .ring_buffer import KeyframeClips
from .sources import FrameSource, check_fps
from .tracker import OnlineTubeTracker
from .writers import (JsonlWriter, OutputFileError, OutputFiles, ProgressLine,
                      VideoWriter, prepare_out_dir)

__all__ = [
    'OnlineRunner', 'display_available', 'RunInterrupted', 'on_stop_signals',
    'signal_name'
]

_END = object()


class RunInterrupted(BaseException):
    """A run stopped by a signal, its outputs finalised.

    A ``BaseException`` (as ``KeyboardInterrupt``): raised by a signal
    handler wherever the main thread is, it must not be taken for the
    error of the step it interrupts by an ``except Exception``.

    Attributes:
        signum (int): the signal (``signal.SIGTERM``, ``signal.SIGINT``).
        exit_code (int): ``128 + signum`` (143, 130), the shell's code for
            a process ended by that signal.
        stats (dict, optional): what :meth:`OnlineRunner.run` returns, for
            the part processed.
    """

    def __init__(self,
                 signum: int,
                 message: str,
                 stats: Optional[Dict] = None) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
        self.stats = stats


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f'signal {signum}'


STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP')
    if hasattr(signal, name))


@contextmanager
def on_stop_signals(handler: Callable[[int], None],
                    enabled: bool = True) -> Iterator[None]:
    """Call ``handler(signum)`` on SIGINT, SIGTERM and SIGHUP (where the
    platform has it) while in the block.

    Installed in the main thread only (Python delivers signals there;
    elsewhere nothing is installed) and only for the block: the previous
    handlers are restored after it. A signal ignored before (``SIG_IGN``:
    ``nohup``, a background job's SIGINT) stays ignored.
    """
    installed = {}
    if enabled and threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN:
                continue
            signal.signal(signum, lambda s, _frame: handler(s))
            installed[signum] = previous
    try:
        yield
    finally:
        for signum, previous in installed.items():
            signal.signal(signum,
                          signal.SIG_DFL if previous is None else previous)


#: a window can be opened (OpenCV's ``imshow`` of ``show=True``)
display_available = has_display


class _Stats:
    """Counters shared by the threads (read under a lock for a snapshot)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.start = time.perf_counter()
        self.frames_read = 0
        self.frames_written = 0
        self.frames_dropped = 0
        self.keyframes_done = 0
        self.keyframes_skipped = 0
        self.model_time = 0.0
        self.lag_last = None
        self.lag_sum = 0.0
        self.lag_max = 0.0
        self.lags = deque(maxlen=4096)  # recent lags, for a median

    def snapshot(self) -> Dict:
        with self.lock:
            wall = time.perf_counter() - self.start
            done = self.keyframes_done
            lags = sorted(self.lags)
            return dict(
                frames_read=self.frames_read,
                frames_written=self.frames_written,
                frames_dropped=self.frames_dropped,
                keyframes_done=done,
                keyframes_skipped=self.keyframes_skipped,
                model_fps=done / self.model_time if self.model_time else None,
                input_fps=self.frames_read / wall if wall else None,
                output_fps=self.frames_written / wall if wall else None,
                lag=self.lag_last,
                lag_mean=self.lag_sum / done if done else None,
                lag_median=lags[len(lags) // 2] if lags else None,
                lag_max=self.lag_max if done else None,
                wall_time=wall)


class OnlineRunner:
    """Run an inferencer over a stream with bounded memory.

    Args:
        inferencer (STMixerInferencer): the model, its clip sampling and
            class names.
        stride (int): frames between two keyframes.
        realtime (bool): skip keyframes the model has no time for (and pace
            a file at its frame rate); else every keyframe is detected.
        out_dir (str, optional): where ``<name>_det.mp4``,
            ``<name>_det.jsonl`` and ``<name>_tracks.json`` go; None writes
            nothing (benchmarks).
        write_video (bool): write the mp4.
        video_codec (str): ``'h264'`` (PyAV, with fallbacks) or ``'mp4v'``.
        show (bool): show the frames in a window (where a display exists).
        score_thr (float): actions listed per person score at least this.
        topk (int): actions per person.
        link_iou, max_lost, max_shift: see :class:`OnlineTubeTracker`.
        fps (float, optional): frame rate of frame folders (default 30) or
            overriding a video's; output fps.
        max_frames (int, optional): stop after this many frames (a webcam
            otherwise runs until interrupted).
        progress (bool | stream): the terminal progress line (stderr).
        capture_factory (callable, optional): opens webcams / streams /
            files (tests inject a fake device).
        queue_frames (int): frames the writer may hold before the reader
            waits (realtime: drops); at least what the nearest-keyframe
            drawing needs is added.
        min_short_side (int): small frames are scaled up to this in the
            video.
        handle_signals (bool): SIGTERM / SIGINT / SIGHUP stop the run and
            finalise the outputs, then :meth:`run` raises
            :class:`RunInterrupted` (in the main thread; see the module).
        overwrite (bool): replace output files that exist (see
            :class:`~stmixer_mm.apis.online.OutputFiles`); else they are
            refused.
    """

    def __init__(self,
                 inferencer,
                 stride: int = 8,
                 realtime: bool = False,
                 out_dir: Optional[str] = None,
                 write_video: bool = True,
                 video_codec: str = 'h264',
                 show: bool = False,
                 score_thr: float = 0.3,
                 topk: int = 3,
                 link_iou: float = 0.5,
                 max_lost: int = 3,
                 max_shift: float = 0.5,
                 fps: Optional[float] = None,
                 max_frames: Optional[int] = None,
                 progress: Union[bool, object] = True,
                 capture_factory: Optional[Callable] = None,
                 queue_frames: int = 64,
                 min_short_side: int = 360,
                 handle_signals: bool = True,
                 overwrite: bool = False) -> None:
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f'stride must be a positive number of frames, '
                             f'got {stride!r}')
        self.inferencer = inferencer
        self.stride = stride
        self.realtime = realtime
        self.out_dir = out_dir
        self.write_video = write_video and out_dir is not None
        self.video_codec = video_codec
        self.show = show
        if show and not display_available():
            warnings.warn('--show: no display (DISPLAY / WAYLAND_DISPLAY '
                          'unset); not showing the frames')
            self.show = False
        self.score_thr = check_probability(score_thr,
                                           'OnlineRunner: score_thr')
        self.topk = topk
        self.tracker_args = dict(
            link_iou=link_iou, max_lost=max_lost, max_shift=max_shift)
        self.fps = check_fps(fps)  # the one rule of the sources
        self.max_frames = max_frames
        self.progress = progress
        self.capture_factory = capture_factory
        self.queue_frames = queue_frames
        self.min_short_side = min_short_side
        self.handle_signals = handle_signals
        self.overwrite = overwrite
        self._stop = threading.Event()
        self._signal: Optional[int] = None

    def stop(self) -> None:
        """Ask a running :meth:`run` to finish after the current frame."""
        self._stop.set()

    @staticmethod
    def output_paths(out_dir: str,
                     name: str,
                     write_video: bool = True) -> Dict[str, Optional[str]]:
        """``{'video': <out_dir>/<name>_det.mp4 (None without the video),
        'jsonl': ..._det.jsonl, 'tracks': <name>_tracks.json}``."""
        stem = osp.join(out_dir, name)
        return dict(
            video=f'{stem}_det.mp4' if write_video else None,
            jsonl=f'{stem}_det.jsonl',
            tracks=f'{stem}_tracks.json')

    def _on_signal(self, signum: int) -> None:
        if self._signal is None:
            self._signal = signum
        self._stop.set()

    # ------------------------------------------------------------------
    def run(self,
            source: Union[str, int, FrameSource],
            name: Optional[str] = None) -> Dict:
        """Process one source to its end (or ``max_frames`` / :meth:`stop`
        / a signal).

        Args:
            source: a spec (:func:`open_source`) or a source.
            name (str, optional): the stem of the output files
                (``<name>_det.mp4``, ...); default the source's name.

        Returns:
            dict: the final statistics (:class:`_Stats` snapshot) with
            ``name``, ``fps``, the output paths, ``codec`` and
            ``num_tracks``.

        Raises:
            OutputFileError: an output exists already or cannot be
                written (a full disk).
            RunInterrupted: SIGTERM / SIGINT (Ctrl-C) / SIGHUP stopped the
                run; the outputs were finalised first.
        """
        if not isinstance(source, FrameSource):
            source = open_source(
                source,
                realtime=self.realtime,
                fps=self.fps,
                capture_factory=self.capture_factory)
        self._stop.clear()
        self._signal = None
        inf = self.inferencer
        buffer = KeyframeClips(inf.clip_len, inf.frame_interval, self.stride)
        tracker = OnlineTubeTracker(
            keep_finished=True, names=inf.label_names, **self.tracker_args)
        inf.reset_tracks()  # a model with track queries starts afresh
        stats = _Stats()
        fps = self.fps or source.fps  # a source always has a rate
        # the writer holds frames until their nearest keyframe is done
        room = self.queue_frames + buffer.after + self.stride
        frames_q: 'queue.Queue' = queue.Queue(maxsize=room)
        events_q: 'queue.Queue' = queue.Queue()  # results / skips (small)
        slot: 'queue.Queue' = queue.Queue(maxsize=1)
        busy = threading.Event()
        errors = []

        paths = {}
        outputs = jsonl = video = None
        if self.out_dir is not None:
            try:
                prepare_out_dir(self.out_dir)
                paths = self.output_paths(self.out_dir, name or source.name,
                                          self.write_video)
                # all three, or none
                outputs = OutputFiles(paths, overwrite=self.overwrite)
                jsonl = JsonlWriter(paths['jsonl'], exclusive=False)
                if paths['video']:
                    video = VideoWriter(
                        paths['video'],
                        fps,
                        codec=self.video_codec,
                        exclusive=False)
            except BaseException:
                source.close()
                if jsonl is not None:
                    jsonl.close()
                if outputs is not None:
                    outputs.release()
                raise

        def put(q, item):
            """Blocking put that gives up once the run is stopped."""
            while True:
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    if self._stop.is_set():
                        return False

        def submit(key, clip, t, wall):
            if self.realtime and (busy.is_set() or slot.full()):
                with stats.lock:
                    stats.keyframes_skipped += 1
                events_q.put(('skip', key, None))
                return
            busy.set()
            put(slot, (key, clip, t, wall))

        paced = self.realtime and not source.live

        def reader():
            first_wall = None
            try:
                for frame in source:
                    if self._stop.is_set() or (self.max_frames is not None and
                                               frame.index >= self.max_frames):
                        break
                    wall = time.perf_counter()
                    if paced:
                        # when a camera would have delivered it: the lag
                        # then counts a reader that falls behind, too
                        if first_wall is None:
                            first_wall = wall - frame.time
                        wall = first_wall + frame.time
                    ready = buffer.push_frame(frame.image, (frame.time, wall))
                    with stats.lock:
                        stats.frames_read += 1
                    item = (frame.index, frame.image)
                    if self.realtime:
                        try:
                            frames_q.put_nowait(item)
                        except queue.Full:
                            with stats.lock:
                                stats.frames_dropped += 1
                    else:
                        put(frames_q, item)
                    for key, clip, (t, wall) in ready:
                        submit(key, clip, t, wall)
                # the end of the stream (or max_frames): the last clips,
                # clamped; not after a stop (Ctrl-C, a model error)
                ready = [] if self._stop.is_set() else buffer.finish_frames()
                for key, clip, (t, wall) in ready:
                    submit(key, clip, t, wall)
            except BaseException as e:  # noqa: B902 - re-raised in run()
                errors.append(e)
            finally:
                source.close()
                slot.put(_END)  # the model drains the slot to _END
                put(frames_q, _END)

        def model():
            try:
                while True:
                    item = slot.get()
                    if item is _END:
                        break
                    key, clip, t, wall = item
                    busy.set()
                    t0 = time.perf_counter()
                    res = inf.predict_clip(clip, key, t, video=source.name)
                    dt = time.perf_counter() - t0
                    del clip
                    # a model with track queries gives the ids itself
                    ids = tracker.update(
                        key,
                        res.bboxes,
                        res.person_scores,
                        res.scores,
                        track_ids=res.track_ids)
                    record = inf.format_result(
                        res, self.score_thr, self.topk, track_ids=ids)
                    if jsonl is not None:
                        jsonl.write(record)
                    lag = time.perf_counter() - wall
                    with stats.lock:
                        stats.keyframes_done += 1
                        stats.model_time += dt
                        stats.lag_last = lag
                        stats.lag_sum += lag
                        stats.lag_max = max(stats.lag_max, lag)
                        stats.lags.append(lag)
                    events_q.put(('done', key, record))
                    if slot.empty():
                        busy.clear()
            except BaseException as e:  # noqa: B902 - re-raised in run()
                errors.append(e)
                self._stop.set()
                # let a reader blocked on the slot go on to its end
                while True:
                    item = slot.get()
                    if item is _END:
                        break
            finally:
                busy.clear()
                events_q.put(('end', None, None))

        try:
            with on_stop_signals(self._on_signal, self.handle_signals):
                result = self._run_threads(source, reader, model, frames_q,
                                           events_q, buffer, stats, video,
                                           jsonl, room, errors)
                if errors:
                    raise errors[0]
                tracks = sorted(
                    tracker.finished +
                    [t.summary(inf.label_names) for t in tracker.tracks],
                    key=lambda s: s['track_id'])
                result.update(
                    name=source.name,
                    fps=fps,
                    codec=video.codec_used if video is not None else None,
                    num_tracks=tracker.next_id,
                    # how the source ended (sources.py: a live stream that
                    # ended unasked, after a warning, has short_read)
                    end_reason=getattr(source, 'end_reason', None),
                    short_read=getattr(source, 'short_read', False),
                    **paths)
                if outputs is not None:
                    with outputs.open('tracks') as f:
                        json.dump(
                            dict(
                                input=source.name,
                                fps=fps,
                                stride=self.stride,
                                realtime=self.realtime,
                                link_iou=self.tracker_args['link_iou'],
                                max_lost=self.tracker_args['max_lost'],
                                stats={
                                    k: v
                                    for k, v in result.items()
                                    if k not in paths and k != 'name'
                                },
                                tracks=tracks),
                            f,
                            indent=1)
        except BaseException:
            if outputs is not None:
                outputs.release()  # the claims never written
            raise
        if self._signal is not None:
            raise RunInterrupted(self._signal,
                                 self._interrupted_message(result, jsonl),
                                 result)
        return result

    def _interrupted_message(self, result: Dict, jsonl) -> str:
        kept = []
        if result.get('video'):
            kept.append(f"{result['video']} ({result['frames_written']} "
                        'frames, playable)')
        if jsonl is not None:
            kept.append(f'{jsonl.path} ({jsonl.num_lines} keyframes)')
        if result.get('tracks'):
            kept.append(f"{result['tracks']} ({result['num_tracks']} "
                        'tracks)')
        return (f'{result["name"]}: interrupted by '
                f'{signal_name(self._signal)} after '
                f'{result["frames_read"]} frames and '
                f'{result["keyframes_done"]} keyframes; ' +
                ('kept what was processed: ' +
                 ', '.join(kept) if kept else 'no outputs (out_dir None)'))

    def _run_threads(self, source, reader, model, frames_q, events_q, buffer,
                     stats, video, jsonl, room, errors) -> Dict:
        """Run the reader and model threads and the write loop to their
        end; close the video and the JSON Lines; the final statistics."""
        threads = [
            threading.Thread(
                target=reader, name='stmixer-reader', daemon=True),
            threading.Thread(target=model, name='stmixer-model', daemon=True)
        ]
        for th in threads:
            th.start()
        bar = None
        if self.progress:
            bar = ProgressLine(None if self.progress is
                               True else self.progress)
        finished = False
        try:
            self._write_loop(frames_q, events_q, buffer, stats, video, bar,
                             room)
            finished = True
        except KeyboardInterrupt:  # where no handler is installed
            if self._signal is None:
                self._signal = signal.SIGINT
        finally:
            self._stop.set()
            self._drain(frames_q)
            for th in threads:
                th.join()
            if jsonl is not None:
                jsonl.close()
            if self.show:
                import cv2
                cv2.destroyAllWindows()
            if video is not None:
                if self._signal is None and (errors or not finished):
                    # a failed run (model error, unreadable input, full
                    # disk): its video is not complete, so it does not
                    # take its final name (as offline); a signal's run
                    # keeps what was processed
                    video.abort()
                else:
                    try:
                        video.close()
                    except OutputFileError as e:
                        errors.append(e)
        result = stats.snapshot()
        if bar is not None:
            bar.update(result, force=True)
            bar.close()
        return result

    @staticmethod
    def _drain(q: 'queue.Queue') -> None:
        while True:
            try:
                q.get_nowait()
            except queue.Empty:
                return

    def _write_loop(self, frames_q, events_q, buffer, stats, video, bar,
                    room) -> None:
        """Draw and write every frame once its nearest keyframe is known."""
        stride, first = self.stride, buffer.first_keyframe
        records: Dict[int, Optional[dict]] = {}  # key -> record / None
        last_done: Optional[dict] = None  # latest done record written
        pending = deque()
        read_ended = model_ended = False

        def target(i):
            """Nearest keyframe to frame i (ties: the earlier one), as the
            offline demo draws."""
            d = i - first
            if d <= 0:
                return first
            m = d // stride
            return first + (m + 1 if 2 * d > (2 * m + 1) * stride else m) \
                * stride

        def flush():
            nonlocal last_done
            while pending:
                i, image = pending[0]
                k = target(i)
                if k not in records:
                    if not model_ended:
                        return
                    # the stream ended before keyframe k: the last one
                    k = max(records) if records else None
                for old in [key for key in records if key < (k or 0)]:
                    rec = records.pop(old)
                    if rec is not None:
                        last_done = rec
                rec = records.get(k) if k is not None else None
                if rec is None:
                    rec = last_done
                pending.popleft()
                persons = rec['persons'] if rec is not None else []
                if video is not None or self.show:
                    canvas = draw_tracks(
                        image,
                        persons,
                        self.min_short_side,
                        header=f'frame {i}' +
                        (f' | keyframe {rec["frame"]}' if rec else ''),
                        frame=i)
                    if video is not None:
                        video.write(canvas)
                    if self.show:
                        import cv2
                        cv2.imshow('STMixer online',
                                   cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
                        if cv2.waitKey(1) & 0xFF in (ord('q'), 27):
                            self._stop.set()
                with stats.lock:
                    stats.frames_written += 1

        def event(kind, key, record):
            nonlocal model_ended
            if kind == 'end':
                model_ended = True
            else:
                records[key] = record

        while not (read_ended and model_ended):
            got = False
            if not read_ended and len(pending) < room:
                try:
                    item = frames_q.get(timeout=0.05)
                    got = True
                    if item is _END:
                        read_ended = True
                    else:
                        pending.append(item)
                except queue.Empty:
                    pass
            while True:
                try:
                    event(*events_q.get_nowait())
                    got = True
                except queue.Empty:
                    break
            if not got and (read_ended or len(pending) >= room):
                try:
                    event(*events_q.get(timeout=0.1))
                except queue.Empty:
                    pass
            flush()
            if bar is not None:
                bar.update(stats.snapshot())
        flush()
