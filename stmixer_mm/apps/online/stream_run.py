"""One :meth:`OnlineRunner.run`: its reader, model and writer threads, their
queues, counters and stop / error protocol."""
import queue
import signal
import sys
import threading
import time
from collections import deque
from contextlib import suppress
from typing import Dict, List, Optional

from stmixer_mm.apis.greedy_tracker import OnlineTubeTracker
from stmixer_mm.apis.results import (KeyframeDrawer, ResultFormatter,
                                     ResultWriter)
from stmixer_mm.apis.tracking import track_result
from stmixer_mm.apis.video_io import FrameSource, KeyframeClips

__all__ = ['StreamRun', 'RunStats']

_END = object()


class RunStats:
    """Counters shared by the threads (under ``lock``)."""

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


class StreamRun:
    """The threads of one :meth:`OnlineRunner.run` over ``source``.

    Args:
        runner (OnlineRunner): the settings, the stop event and the signal
            that stopped the run (``runner.signum``).
        source (FrameSource): the frames (closed by the reader).
        buffer (KeyframeClips): the clip ring buffer.
        tracker (OnlineTubeTracker): the track ids.
        stats (RunStats): the counters.
        out (ResultWriter): the JSON Lines file and the video.
        fmt (ResultFormatter): the persons kept and their records (the
            thresholds of ``out``'s header line).

    Attributes:
        errors (list): the exceptions of the threads, first first.
    """

    def __init__(self, runner, source: FrameSource, buffer: KeyframeClips,
                 tracker: OnlineTubeTracker, stats: RunStats,
                 out: ResultWriter, fmt: ResultFormatter) -> None:
        self.runner, self.source, self.buffer = runner, source, buffer
        self.tracker, self.stats, self.out = tracker, stats, out
        self.stop = runner.stop_event
        self.realtime = runner.realtime
        self.fmt = fmt
        # the writer holds frames until their nearest keyframe is done
        self.room = runner.queue_frames + buffer.after + runner.stride
        self.frames_q: 'queue.Queue' = queue.Queue(maxsize=self.room)
        self.events_q: 'queue.Queue' = queue.Queue()
        self.slot: 'queue.Queue' = queue.Queue(maxsize=1)
        self.busy = threading.Event()
        self.errors = []

    def put(self, q, item) -> bool:
        """Blocking put that gives up once the run is stopped.

        Args:
            q (queue.Queue): The queue.
            item: What to put.

        Returns:
            bool: True when put, False when the run stopped first.
        """
        while True:
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                if self.stop.is_set():
                    return False

    def submit(self, key, clip, t, wall, last=False) -> None:
        """Hand a keyframe's clip to the model thread (realtime: skip it,
        counted, while the model is busy).

        Args:
            key (int): 0-based keyframe.
            clip (list[np.ndarray]): Its clip, RGB uint8 frames (H, W, 3).
            t (float): The keyframe's stream time, in seconds.
            wall (float): ``time.perf_counter()`` when it was read (or was
                due, for a paced file); the lag is measured from it.
            last (bool): A clamped clip after the end; never skipped.
                Defaults to False.
        """
        # realtime skips a keyframe the model has no time for, but not the
        # clamped clips after the end (``last``): nothing newer replaces them
        stats = self.stats
        if self.realtime and not last and (self.busy.is_set()
                                           or self.slot.full()):
            with stats.lock:
                stats.keyframes_skipped += 1
            self.events_q.put(('skip', key, None))
            return
        self.busy.set()
        self.put(self.slot, (key, clip, t, wall))

    def reader(self) -> None:
        source, buffer, stats = self.source, self.buffer, self.stats
        max_frames = self.runner.max_frames
        paced = self.realtime and not source.live
        first_wall = None
        try:
            for frame in source:
                if self.stop.is_set() or (max_frames is not None
                                          and frame.index >= max_frames):
                    break
                wall = time.perf_counter()
                if paced:  # as a camera would: the lag counts a slow reader
                    if first_wall is None:
                        first_wall = wall - frame.time
                    wall = first_wall + frame.time
                ready = buffer.push_frame(frame.image, (frame.time, wall))
                with stats.lock:
                    stats.frames_read += 1
                item = (frame.index, frame.image)
                if self.realtime:
                    try:
                        self.frames_q.put_nowait(item)
                    except queue.Full:
                        with stats.lock:
                            stats.frames_dropped += 1
                else:
                    self.put(self.frames_q, item)
                for key, clip, (t, wall) in ready:
                    self.submit(key, clip, t, wall)
            # the last clips, clamped; not after a stop (Ctrl-C, an error)
            ready = [] if self.stop.is_set() else buffer.finish_frames()
            for key, clip, (t, wall) in ready:
                self.submit(key, clip, t, wall, last=True)
        except BaseException as e:  # noqa: B902 - re-raised in run()
            self.errors.append(e)
        finally:
            source.close()
            self.slot.put(_END)  # the model drains the slot to _END
            self.put(self.frames_q, _END)

    def model(self) -> None:
        inf, stats, slot = self.runner.inferencer, self.stats, self.slot
        try:
            for key, clip, t, wall in iter(slot.get, _END):
                self.busy.set()
                t0 = time.perf_counter()
                res = inf.predict_clip(clip, key, t, video=self.source.name)
                dt = time.perf_counter() - t0
                res = self.fmt.keep(res)
                del clip
                ids = track_result(self.tracker, res)
                record = self.fmt.record(res, ids)
                self.out.append(record, res.frame_hw and res.frame_hw[::-1])
                lag = time.perf_counter() - wall
                with stats.lock:
                    stats.keyframes_done += 1
                    stats.model_time += dt
                    stats.lag_last = lag
                    stats.lag_sum += lag
                    stats.lag_max = max(stats.lag_max, lag)
                    stats.lags.append(lag)
                self.events_q.put(('done', key, record))
                if slot.empty():
                    self.busy.clear()
        except BaseException as e:  # noqa: B902 - re-raised in run()
            self.errors.append(e)
            self.stop.set()
            # let a reader blocked on the slot go on to its end
            for _ in iter(slot.get, _END):
                pass
        finally:
            self.busy.clear()
            self.events_q.put(('end', None, None))

    def run(self) -> Dict:
        """Run the threads and the write loop to their end, close the
        outputs; returns the final statistics."""
        runner = self.runner
        threads = [
            threading.Thread(
                target=self.reader, name='stmixer-reader', daemon=True),
            threading.Thread(
                target=self.model, name='stmixer-model', daemon=True)
        ]
        for th in threads:
            th.start()
        bar = None
        if runner.progress:
            bar = ProgressLine(None if runner.progress is
                               True else runner.progress)
        finished = False
        try:
            self.write_loop(bar)
            finished = True
        except KeyboardInterrupt:  # where no handler is installed
            if runner.signum is None:
                runner.signum = signal.SIGINT
        finally:
            self.stop.set()
            with suppress(queue.Empty):  # drained: a waiting reader goes on
                while True:
                    self.frames_q.get_nowait()
            for th in threads:
                th.join()
            if runner.show:
                import cv2
                cv2.destroyAllWindows()
            if runner.signum is None and (self.errors or not finished):
                self.out.abort()  # a signal's run keeps what was done
            else:
                try:
                    self.out.close()
                except OSError as e:
                    self.errors.append(e)
        result = self.stats.snapshot()
        if bar is not None:
            bar.update(result, force=True)
            bar.close()
        return result

    def write_loop(self, bar) -> None:
        """Draw and write every frame once its nearest keyframe is known."""
        drawer = KeyframeDrawer(self.out, self.buffer.first_keyframe,
                                self.runner.stride,
                                self.show if self.runner.show else None)
        try:
            self._write_until_the_end(drawer, bar)
        finally:  # also when a KeyboardInterrupt cuts a flush
            with self.stats.lock:
                self.stats.frames_written = drawer.num_drawn

    def _write_until_the_end(self, drawer: KeyframeDrawer, bar) -> None:
        stats = self.stats
        read_ended = False

        def event(kind, key, record):
            if kind == 'end':
                drawer.ended = True
            else:
                drawer.keyframe(key, record)

        while True:
            drawer.flush()
            with stats.lock:
                stats.frames_written = drawer.num_drawn
            if read_ended and drawer.ended:
                return
            if bar is not None:
                bar.update(stats.snapshot())
            got = False
            if not read_ended and len(drawer.pending) < self.room:
                with suppress(queue.Empty):
                    item = self.frames_q.get(timeout=0.05)
                    got = True
                    if item is _END:
                        read_ended = True
                    else:
                        drawer.frame(*item)
            with suppress(queue.Empty):  # every event waiting
                while True:
                    event(*self.events_q.get_nowait())
                    got = True
            if not got and (read_ended or len(drawer.pending) >= self.room):
                with suppress(queue.Empty):
                    event(*self.events_q.get(timeout=0.1))

    def show(self, canvas) -> None:
        """Show a drawn frame (``show``); q or Esc stops the run."""
        import cv2
        cv2.imshow('STMixer online', cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (ord('q'), 27):
            self.stop.set()


class ProgressLine:
    """A status line rewritten (``\\r``) every ``every`` s on a terminal;
    elsewhere a plain line every ``every_plain`` s, and at the end.

    Args:
        stream (file-like, optional): Where to write; None: stderr.
        every (float): Seconds between updates on a terminal. Defaults to
            0.5.
        every_plain (float): Seconds between lines elsewhere. Defaults to
            10.0.
    """

    def __init__(self,
                 stream=None,
                 every: float = 0.5,
                 every_plain: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self.every = every if self.tty else every_plain
        self._last, self._width = time.perf_counter(), 0

    def update(self, stats: Dict, force: bool = False) -> Optional[str]:
        """Write the status of ``stats`` if it is time.

        Args:
            stats (dict): :meth:`RunStats.snapshot`'s counters.
            force (bool): Write now. Defaults to False.

        Returns:
            str | None: The line written (:func:`format_stats`), or None
            when it was not yet time.
        """
        now = time.perf_counter()
        if not force and now - self._last < self.every:
            return None
        self._last, text = now, format_stats(stats)
        # on a terminal: over the line before (blanks over a longer one)
        self.stream.write('\r' +
                          text.ljust(self._width) if self.tty else text + '\n')
        self._width = len(text)
        self.stream.flush()
        return text

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write('\n')
            self.stream.flush()


def format_stats(stats: Dict) -> str:
    """``frames 1200 | keyframes 150 done, 3 skipped | model 4.1 clips/s |
    ...``."""
    parts: List[str] = [
        f"frames {stats.get('frames_read', 0)}",
        f"keyframes {stats.get('keyframes_done', 0)} done, "
        f"{stats.get('keyframes_skipped', 0)} skipped"
    ]
    if stats.get('model_fps'):
        parts.append(f"model {stats['model_fps']:.3g} clips/s")
    if stats.get('input_fps'):
        parts.append(f"read {stats['input_fps']:.1f} fps")
    if stats.get('lag') is not None:
        parts.append(f"lag {stats['lag']:.2f} s")
    return ' | '.join(parts)
