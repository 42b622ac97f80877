"""The counters of an online run, shared by its threads, and their
snapshot (what :meth:`~stmixer_mm.apis.online.OnlineRunner.run` returns and
the progress line shows)."""
import threading
import time
from collections import deque
from typing import Dict

__all__ = ['RunStats']


class RunStats:
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
