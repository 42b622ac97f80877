"""The files of one input's results, written one way by the Inferencer,
the offline demo and the online runner.

A :class:`ResultWriter` claims all its paths before writing (nothing is
overwritten unasked) and picks formats by extension: ``.mp4`` (drawn with
``draw_tracks``), ``.jsonl`` (a keyframe record a line), ``.json`` or
``.csv`` (:data:`~.formatter.CSV_COLUMNS`); documents renamed when done.
"""
import csv
import json
import os.path as osp
from collections import deque
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from stmixer_mm.utils.output_files import OutputFiles, prepare_out_dir
from stmixer_mm.visualization import draw_tracks
from ..video_io.writers import JsonlWriter, VideoWriter

__all__ = ['ResultWriter', 'KeyframeDrawer', 'nearest_keyframe']


def nearest_keyframe(index: int, first: int, stride: int) -> int:
    """The keyframe (every ``stride`` frames from ``first``) nearest to
    frame ``index``, the earlier on a tie (maybe after a stream's last)."""
    d = index - first
    if d <= 0:
        return first
    m = d // stride
    return first + (m + 1 if 2 * d > (2 * m + 1) * stride else m) * stride


class ResultWriter:
    """Write one input's results.

    Args:
        paths (dict): ``{key: path}`` (folders created); None paths are
            left out.
        fps (float, optional): the video's frame rate (with an ``.mp4``).
        codec (str): the video's codec (``'h264'`` or ``'mp4v'``).
        overwrite (bool): replace the files that exist (each when its new
            output is complete); folders are still refused.
        min_short_side (int): frames drawn smaller than this are scaled up.

    Raises:
        OutputFileError: a path exists (``overwrite``: a folder) or cannot
            be created; nothing is claimed then.
    """

    def __init__(self,
                 paths: Dict[str, Optional[str]],
                 fps: Optional[float] = None,
                 codec: str = 'h264',
                 overwrite: bool = False,
                 min_short_side: int = 360) -> None:
        for folder in {osp.dirname(p) for p in paths.values() if p}:
            if folder:
                prepare_out_dir(folder)
        self.files = OutputFiles(paths, overwrite=overwrite)
        self.paths = self.files.paths
        self.min_short_side = min_short_side
        self.video: Optional[VideoWriter] = None
        self.jsonl: Optional[JsonlWriter] = None
        try:
            for path in self.paths.values():
                if path.endswith('.jsonl'):
                    self.jsonl = JsonlWriter(path, exclusive=False)
                elif path.endswith('.mp4'):
                    self.video = VideoWriter(
                        path, fps, codec=codec, exclusive=False)
        except BaseException:
            self.abort()
            raise

    def __getitem__(self, key: str) -> str:
        return self.paths[key]

    def draw(self,
             image: np.ndarray,
             persons: Sequence[dict],
             header: Optional[str] = None,
             frame: Optional[int] = None) -> np.ndarray:
        """Draw ``persons`` on an RGB frame (``frame``: its index, for
        tubelet boxes), append it to the video if any and return it."""
        canvas = draw_tracks(
            image, persons, self.min_short_side, header=header, frame=frame)
        if self.video is not None:
            self.video.write(canvas)
        return canvas

    def append(self, record: dict) -> None:
        """One line of the JSON Lines file (if any), written at once."""
        if self.jsonl is not None:
            self.jsonl.write(record)

    def write_json(self, key: str, document) -> None:
        """The JSON document ``key`` (indented), complete."""
        with self.files.open(key) as f:
            json.dump(document, f, indent=1)

    def write_csv(self, key: str, columns: Sequence[str], rows) -> None:
        """The CSV file ``key``: ``columns`` then ``rows``, complete."""
        with self.files.open(key, newline='') as f:
            out = csv.writer(f)
            out.writerow(columns)
            out.writerows(rows)

    @property
    def codec_used(self) -> Optional[str]:
        return None if self.video is None else self.video.codec_used

    def close(self) -> None:
        """Finish the video (renamed to its path) and the JSON Lines file.

        Raises:
            OutputFileError: the video cannot be finished (it is removed).
        """
        if self.jsonl is not None:
            self.jsonl.close()
        if self.video is not None:
            self.video.close()
            if not self.video.num_frames:  # no frame: no video, no claim
                self.files.release(['video'])

    def abort(self) -> List[str]:
        """End a failed run: remove the partial files and unfilled claims;
        returns the paths kept (complete)."""
        if self.jsonl is not None:
            self.jsonl.close()
        if self.video is not None:
            self.video.abort()
        return self.files.release()


class KeyframeDrawer:
    """Draw every frame with the persons of its nearest keyframe into a
    :class:`ResultWriter`'s video, as soon as that keyframe's record is
    known (the offline demo and the online runner alike). A keyframe given
    as None (skipped) is drawn with the last one done before it.

    Args:
        writer (ResultWriter): where the frames go; without a video and
            ``on_frame`` nothing is drawn.
        first (int): the first keyframe.
        stride (int): frames between two keyframes.
        on_frame (callable, optional): called with each drawn frame.
    """

    def __init__(
            self,
            writer: ResultWriter,
            first: int,
            stride: int,
            on_frame: Optional[Callable[[np.ndarray], None]] = None) -> None:
        self.writer = writer
        self.first, self.stride = first, stride
        self.on_frame = on_frame
        self.records: Dict[int, Optional[dict]] = {}  # key -> record / None
        self.last_done: Optional[dict] = None  # latest done record drawn
        self.pending = deque()  # (index, image) waiting for their keyframe
        self.ended = False  # no keyframe comes any more
        self.num_drawn = 0  # frames drawn (or passed, with nothing to draw)

    def keyframe(self, key: int, record: Optional[dict]) -> None:
        """A keyframe's record (``dict(frame, persons)``), or None."""
        self.records[key] = record

    def frame(self, index: int, image: np.ndarray) -> None:
        self.pending.append((index, image))

    def flush(self) -> int:
        """Draw the frames whose keyframe is known (all after
        :attr:`ended`); returns how many."""
        drawn = 0
        draw = self.writer.video is not None or self.on_frame is not None
        while self.pending:
            i, image = self.pending[0]
            k = nearest_keyframe(i, self.first, self.stride)
            if k not in self.records:
                if not self.ended:
                    break
                # the stream ended before keyframe k: the last one
                k = max(self.records) if self.records else None
            for old in [key for key in self.records if key < (k or 0)]:
                rec = self.records.pop(old)
                if rec is not None:
                    self.last_done = rec
            rec = self.records.get(k) if k is not None else None
            if rec is None:
                rec = self.last_done
            self.pending.popleft()
            if draw:
                canvas = self.writer.draw(
                    image,
                    rec['persons'] if rec is not None else [],
                    header=f'frame {i}' +
                    (f' | keyframe {rec["frame"]}' if rec else ''),
                    frame=i)
                if self.on_frame is not None:
                    self.on_frame(canvas)
            drawn += 1
            self.num_drawn += 1
        return drawn
