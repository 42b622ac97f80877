"""The files of one input's results (the demo's ``<name>_det.*``, the
Inferencer's ``vis/<name>.mp4`` and ``preds/<name>.json`` as DetInferencer),
named and written one way by every caller (docs/en/overview.md)."""
import csv
import json
import os.path as osp
from collections import Counter, deque
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from stmixer_mm.apis.output_files import OutputFiles, prepare_out_dir
from stmixer_mm.visualization import draw_tracks
from ..video_io.writers import JsonlWriter, VideoWriter

__all__ = [
    'ResultWriter', 'KeyframeDrawer', 'nearest_keyframe', 'demo_output_names',
    'demo_output_paths', 'inferencer_output_names', 'inferencer_output_paths',
    'inferencer_output_dirs'
]


def demo_output_names(inputs, spec):
    """The output stem of each input of the demo's ``spec``.

    Args:
        inputs (list[str | int]): The inputs ``spec`` expands to
            (:func:`~stmixer_mm.apis.video_io.expand_inputs`).
        spec (str | int): The demo's input.

    Returns:
        list[str | None]: ``[None]`` (the source's own name) for a
        single input; else the videos' stems, the whole file name for
        those sharing a stem (ignoring case, as some file systems do),
        every whole file name if that still leaves two the same.
    """
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
    """The demo's output paths of one input.

    Args:
        out_dir (str): Folder of the outputs.
        name (str): Output stem.
        online (bool): The online runner's outputs. Defaults to False.
        tubes (bool): Offline: also the tubes file. Defaults to False.
        write_video (bool): Online: also the video. Defaults to True.

    Returns:
        dict[str, str | None]: Offline ``video`` (``<name>_det.mp4``),
        ``json`` (``_det.json``), ``csv`` (``_det.csv``), ``tubes``
        (``_tubes.json``); online ``video``, ``jsonl`` (``_det.jsonl``),
        ``tracks`` (``_tracks.json``). None: not written.
    """
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
    """The Inferencer's output names: a path's stem, ``video_<i>`` for
    arrays; a name shared (ignoring case) gets the index (``clip_0``)."""
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
    """The Inferencer's output folders, as DetInferencer resolves them.

    Args:
        out_dir (str): The common folder (``''``: none).
        vid_out_dir (str): Folder of the drawn videos; given, it wins
            over ``<out_dir>/vis``.
        no_save_vis (bool): Save no drawn video.
        pred_out_dir (str): Folder of the predictions; given, it wins
            over ``<out_dir>/preds``.
        no_save_pred (bool): Save no prediction.

    Returns:
        tuple[str, str]: The ``vis`` and ``preds`` folders (``''``: not
        saved).
    """

    def pick(given, no_save, sub):
        if no_save:
            return ''
        return given or (osp.join(out_dir, sub) if out_dir else '')

    return (pick(vid_out_dir, no_save_vis,
                 'vis'), pick(pred_out_dir, no_save_pred, 'preds'))


def inferencer_output_paths(
        name: str,
        vid_out_dir: str = '',
        pred_out_dir: str = '') -> Dict[str, Optional[str]]:
    """The Inferencer's output paths of one video.

    Args:
        name (str): Output stem (:func:`inferencer_output_names`).
        vid_out_dir (str): Folder of the drawn video (``''``: not saved).
            Defaults to ``''``.
        pred_out_dir (str): Folder of the prediction (``''``: not
            saved). Defaults to ``''``.

    Returns:
        dict[str, str | None]: ``vis`` (``<vid_out_dir>/<name>.mp4``) and
        ``pred`` (``<pred_out_dir>/<name>.json``); None where not saved.
    """
    return dict(
        vis=osp.join(vid_out_dir, f'{name}.mp4') if vid_out_dir else None,
        pred=osp.join(pred_out_dir, f'{name}.json') if pred_out_dir else None)


def nearest_keyframe(index: int, first: int, stride: int) -> int:
    """The keyframe whose detections are drawn on a frame.

    Args:
        index (int): 0-based frame.
        first (int): The first keyframe.
        stride (int): Frames between two keyframes.

    Returns:
        int: The keyframe (every ``stride`` from ``first``) nearest to
        ``index``, the earlier on a tie; ``first`` for a frame before it.
        It may lie after a stream's last keyframe.
    """
    d = index - first
    if d <= 0:
        return first
    m = d // stride
    return first + (m + 1 if 2 * d > (2 * m + 1) * stride else m) * stride


class ResultWriter(OutputFiles):
    """Write one input's results (claimed as :class:`OutputFiles`).

    Args:
        paths (dict): ``{key: path}`` (folders created; None: left out).
        fps (float, optional): the video's frame rate (with an ``.mp4``).
        codec (str): the video's codec (``'h264'`` or ``'mp4v'``).
        overwrite (bool): replace the files that exist (each when its new
            output is complete); folders are still refused.
        min_short_side (int): frames drawn smaller than this are scaled up.
        stream_header (dict, optional): The first line of a ``.jsonl``
            path (:meth:`ResultFormatter.header`), written before its first
            keyframe (:meth:`append`) or when it closes without one;
            needed with a ``.jsonl`` path.

    Raises:
        OSError: a path exists (``overwrite``: a folder) or cannot
            be created; nothing is claimed then.
        ValueError: a ``.jsonl`` path without ``stream_header``.
    """

    def __init__(self,
                 paths: Dict[str, Optional[str]],
                 fps: Optional[float] = None,
                 codec: str = 'h264',
                 overwrite: bool = False,
                 min_short_side: int = 360,
                 stream_header: Optional[dict] = None) -> None:
        streams = [p for p in paths.values() if p and p.endswith('.jsonl')]
        if streams and stream_header is None:
            raise ValueError(f'ResultWriter: {streams[0]}: a JSON Lines '
                             'result needs stream_header, its first line '
                             '(ResultFormatter.header)')
        for folder in {osp.dirname(p) for p in paths.values() if p} - {''}:
            prepare_out_dir(folder)
        super().__init__(paths, overwrite=overwrite)
        self.min_short_side = min_short_side
        self.video: Optional[VideoWriter] = None
        self.jsonl: Optional[JsonlWriter] = None
        #: the header line not written yet (None once written)
        self.stream_header = None if stream_header is None else dict(
            stream_header)
        #: keyframe lines written to the JSON Lines file
        self.num_keyframes = 0
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

    def draw(self,
             image: np.ndarray,
             persons: Sequence[dict],
             header: Optional[str] = None,
             frame: Optional[int] = None) -> np.ndarray:
        """Draw persons on a frame and append it to the video, if any.

        Args:
            image (np.ndarray): RGB uint8 frame, (H, W, 3).
            persons (Sequence[dict]): As
                :func:`~stmixer_mm.visualization.draw_tracks` takes them
                (``bbox`` in pixels of ``image``, ...).
            header (str, optional): Text drawn top-left. Defaults to None.
            frame (int, optional): The frame's index, where a tubelet
                gives its own box. Defaults to None.

        Returns:
            np.ndarray: The drawn RGB copy, scaled up to
            ``min_short_side`` where smaller.
        """
        canvas = draw_tracks(
            image, persons, self.min_short_side, header=header, frame=frame)
        if self.video is not None:
            self.video.write(canvas)
        return canvas

    def append(self,
               record: dict,
               frame_size: Optional[Sequence[int]] = None) -> None:
        """One keyframe line of the JSON Lines file (if any), written at
        once; the header line goes first.

        Args:
            record (dict): :meth:`ResultFormatter.record`'s.
            frame_size (Sequence[int], optional): ``[w, h]`` of the frames,
                filling the header's ``frame_size`` where it is None
                (the first keyframe tells it). Defaults to None.
        """
        if self.jsonl is None:
            return
        if self.stream_header is not None:
            if self.stream_header.get('frame_size') is None and frame_size:
                self.stream_header['frame_size'] = [int(v) for v in frame_size]
            self._write_header()
        self.jsonl.write(record)
        self.num_keyframes += 1

    def _write_header(self) -> None:
        header, self.stream_header = self.stream_header, None
        if header is not None:
            self.jsonl.write(header)

    def write_json(self, key: str, document) -> None:
        """Write the JSON document of ``paths[key]`` (indented), complete.

        Args:
            key (str): The output's key in ``paths``.
            document: A JSON-serialisable object.
        """
        with self.open(key) as f:
            json.dump(document, f, indent=1)

    def write_csv(self, key: str, columns: Sequence[str], rows) -> None:
        """Write the CSV file of ``paths[key]``, complete.

        Args:
            key (str): The output's key in ``paths``.
            columns (Sequence[str]): The header row.
            rows (Iterable[list]): The rows, as ``csv.writer`` takes them.
        """
        with self.open(key, newline='') as f:
            out = csv.writer(f)
            out.writerow(columns)
            out.writerows(rows)

    @property
    def codec_used(self) -> Optional[str]:
        return None if self.video is None else self.video.codec_used

    def close(self) -> None:
        """Finish the video and the JSON Lines file (``OSError``
        removes a video that cannot be finished)."""
        if self.jsonl is not None:
            try:  # a stream without keyframes: its header alone
                self._write_header()
            finally:
                self.jsonl.close()
        if self.video is not None:
            self.video.close()
            if not self.video.num_frames:  # no frame: no video, no claim
                self.release(['video'])

    def abort(self) -> List[str]:
        """Remove partial files and unfilled claims; returns the paths kept."""
        if self.jsonl is not None:
            self.jsonl.close()
        if self.video is not None:
            self.video.abort()
        return self.release()


class KeyframeDrawer:
    """Draw each frame with its nearest keyframe's persons once that record
    is known; a skipped keyframe (None) draws the last one done.

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
        self.records: Dict[int, Optional[dict]] = {}
        self.last_done: Optional[dict] = None
        self.pending = deque()  # (index, image) waiting for their keyframe
        self.ended = False  # no keyframe comes any more
        self.num_drawn = 0  # also passed, with nothing to draw

    def keyframe(self, key: int, record: Optional[dict]) -> None:
        """Give a keyframe's record.

        Args:
            key (int): 0-based keyframe.
            record (dict, optional): ``dict(frame, persons)`` (persons as
                ``draw_tracks`` takes them); None: skipped, its frames get
                the last keyframe done.
        """
        self.records[key] = record

    def frame(self, index: int, image: np.ndarray) -> None:
        """Queue a frame until its keyframe is known (:meth:`flush`).

        Args:
            index (int): 0-based frame, ascending over calls.
            image (np.ndarray): RGB uint8 frame, (H, W, 3).
        """
        self.pending.append((index, image))

    def flush(self) -> int:
        """Draw the frames whose keyframe is known; returns how many."""
        start = self.num_drawn
        draw = self.writer.video is not None or self.on_frame is not None
        while self.pending:
            i, image = self.pending[0]
            k = nearest_keyframe(i, self.first, self.stride)
            if k not in self.records:
                if not self.ended:
                    break
                k = max(self.records) if self.records else None
            for old in [key for key in self.records if key < (k or 0)]:
                rec = self.records.pop(old)
                if rec is not None:
                    self.last_done = rec
            rec = self.records.get(k)  # None: a skipped keyframe (or none)
            rec = self.last_done if rec is None else rec
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
            self.num_drawn += 1
        return self.num_drawn - start
