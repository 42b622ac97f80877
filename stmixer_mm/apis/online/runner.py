"""The online engine: read, detect, track and write a stream as it comes.

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

Outputs (:class:`~stmixer_mm.apis.results.ResultWriter`): the three files
are claimed together before the first frame is read (nothing is
overwritten unless ``overwrite=True``, the demo's ``--overwrite``); the mp4
appears under its name once its container is closed (it plays), the track
summaries once complete.

SIGTERM, SIGINT and SIGHUP (a timeout, ``docker stop``, Slurm, Ctrl-C, a
closed terminal) stop the run as :meth:`OnlineRunner.stop` does: the
frames read are written, the mp4 is closed, the JSON Lines hold every
keyframe done and the track summaries are written; then
:class:`RunInterrupted` is raised (the demo exits with 128 + the signal
number: 143, 130, 129). The handlers are installed
in the main thread only, for the run only (the previous ones are restored;
a signal that was ignored stays ignored).
"""
import threading
import warnings
from typing import Callable, Dict, Optional, Union

from stmixer_mm.utils.settings_specs import check_probability
from stmixer_mm.visualization.display import has_display
from ..results import ResultWriter, demo_output_paths
from ..stop_signals import RunInterrupted, on_stop_signals, signal_name
from ..video_io import (FrameSource, KeyframeClips, check_fps,
                        check_frame_count, open_source)
from .run_stats import RunStats
from .stream_run import StreamRun
from .tracker import OnlineTubeTracker

__all__ = ['OnlineRunner', 'display_available']

#: a window can be opened (OpenCV's ``imshow`` of ``show=True``)
display_available = has_display


class OnlineRunner:
    """Run an inferencer over a stream with bounded memory.

    Args:
        inferencer (STMixerInferencer): the model, its clip sampling,
            class names and ``person_thr``.
        stride (int): frames between two keyframes.
        realtime (bool): skip keyframes the model has no time for (and pace
            a file at its frame rate); else every keyframe is detected.
        out_dir (str, optional): where ``<name>_det.mp4``,
            ``<name>_det.jsonl`` and ``<name>_tracks.json`` go; None writes
            nothing (benchmarks).
        write_video (bool): write the mp4.
        video_codec (str): ``'h264'`` (PyAV, with fallbacks) or ``'mp4v'``.
        show (bool): show the frames in a window (where a display exists).
        score_thr (float): actions listed per person score at least this
            (the persons written: :meth:`ResultFormatter.keep
            <stmixer_mm.apis.results.ResultFormatter.keep>`).
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
        self.inferencer = inferencer
        self.stride = check_frame_count(stride, 'stride', 'OnlineRunner')
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
        self.stop_event = threading.Event()
        self.signum: Optional[int] = None

    def stop(self) -> None:
        """Ask a running :meth:`run` to finish after the current frame."""
        self.stop_event.set()

    @staticmethod
    def output_paths(out_dir: str,
                     name: str,
                     write_video: bool = True) -> Dict[str, Optional[str]]:
        """``{'video': <out_dir>/<name>_det.mp4 (None without the video),
        'jsonl': ..._det.jsonl, 'tracks': <name>_tracks.json}``
        (:func:`~stmixer_mm.apis.results.demo_output_paths`)."""
        return demo_output_paths(out_dir, name, True, write_video=write_video)

    def _on_signal(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self.stop_event.set()

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
            dict: the final statistics (:class:`~.run_stats.RunStats`
            snapshot) with ``name``, ``fps``, the output paths, ``codec``,
            ``num_tracks``, the persons written (``persons``,
            ``persons_with_action``, ``persons_removed``: the counts of
            :class:`~stmixer_mm.apis.results.ResultFormatter`) and their
            ``summary`` (with none written, the setting that removed
            them).

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
        self.stop_event.clear()
        self.signum = None
        inf = self.inferencer
        buffer = KeyframeClips(  # an inferencer without it: centred clips
            inf.clip_len,
            inf.frame_interval,
            self.stride,
            keyframe=getattr(inf, 'keyframe', 'centre'))
        tracker = OnlineTubeTracker(
            keep_finished=True, names=inf.label_names, **self.tracker_args)
        inf.reset_tracks()  # a model with track queries starts afresh
        stats = RunStats()
        fps = self.fps or source.fps  # a source always has a rate
        paths, out = {}, None
        try:
            if self.out_dir is not None:  # ResultWriter makes the folder
                paths = self.output_paths(self.out_dir, name or source.name,
                                          self.write_video)
            # all three files, or none; without them it only draws (show)
            out = ResultWriter(
                paths,
                fps,
                codec=self.video_codec,
                overwrite=self.overwrite,
                min_short_side=self.min_short_side)
            run = StreamRun(self, source, buffer, tracker, stats, out)
        except BaseException:
            source.close()
            if out is not None:
                out.abort()
            raise

        try:
            with on_stop_signals(self._on_signal, self.handle_signals):
                result = run.run()
                if run.errors:
                    raise run.errors[0]
                tracks = sorted(
                    tracker.finished +
                    [t.summary(inf.label_names) for t in tracker.tracks],
                    key=lambda s: s['track_id'])
                result.update(
                    name=source.name,
                    fps=fps,
                    codec=out.codec_used,
                    num_tracks=tracker.next_id,
                    # how the source ended (sources.py: a live stream that
                    # ended unasked, after a warning, has short_read)
                    end_reason=getattr(source, 'end_reason', None),
                    short_read=getattr(source, 'short_read', False),
                    # the persons written (ResultFormatter.keep)
                    summary=run.fmt.summary(),
                    **run.fmt.counts,
                    **paths)
                if 'tracks' in out.paths:
                    out.write_json(
                        'tracks',
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
                            tracks=tracks))
        except BaseException:
            out.abort()  # the claims never written
            raise
        if self.signum is not None:
            raise RunInterrupted(self.signum,
                                 self._interrupted_message(result, out.jsonl),
                                 result)
        return result

    def _interrupted_message(self, result: Dict, jsonl) -> str:
        kept = []
        if result.get('video') and result['frames_written']:
            kept.append(f"{result['video']} ({result['frames_written']} "
                        'frames, playable)')
        if jsonl is not None:
            kept.append(f'{jsonl.path} ({jsonl.num_lines} keyframes)')
        if result.get('tracks'):
            kept.append(f"{result['tracks']} ({result['num_tracks']} "
                        'tracks)')
        return (f'{result["name"]}: interrupted by '
                f'{signal_name(self.signum)} after '
                f'{result["frames_read"]} frames and '
                f'{result["keyframes_done"]} keyframes; ' +
                ('kept what was processed: ' +
                 ', '.join(kept) if kept else 'no outputs (out_dir None)'))
