"""The online engine: read, detect, track and write a stream as it comes
(threads: :mod:`.stream_run`). See docs/en/online.md."""
import threading
import warnings
from typing import Callable, Dict, Optional, Union

from stmixer_mm.apis.results import (ResultFormatter, ResultWriter,
                                     demo_output_paths)
from stmixer_mm.apis.tracking import build_tracker, tracker_settings
from stmixer_mm.apis.video_io import (FrameSource, KeyframeClips, check_fps,
                                      open_source)
from stmixer_mm.apps.display import has_display
from stmixer_mm.utils.checks import check_ints, check_range
from ..stop_signals import RunInterrupted, on_stop_signals, signal_name
from .stream_run import RunStats, StreamRun

__all__ = ['OnlineRunner', 'display_available']

display_available = has_display


class OnlineRunner:
    """Run an inferencer over a stream with bounded memory.

    Args:
        inferencer (STMixerInferencer): model, clip sampling, classes, thr.
        stride (int): frames between two keyframes.
        realtime (bool): skip keyframes late for the model, pace files.
        out_dir (str, optional): for the outputs; None writes nothing.
        write_video (bool): write the mp4.
        video_codec (str): ``'h264'`` (PyAV, with fallbacks) or ``'mp4v'``.
        show (bool): show the frames in a window (where a display exists).
        score_thr (float): list the actions scoring at least this.
        topk (int): actions per person.
        link_iou (float, optional): the greedy tracker's IoU with a
            track's last box to continue it (:class:`OnlineTubeTracker`);
            None: the tracker's.
        max_lost (int, optional): keyframes a track may miss and still
            continue; None: the tracker's.
        max_shift (float, optional): the greedy tracker's reach of a lost
            track, in box sizes; None: the tracker's.
        tracker (dict, optional): ``dict(type=...)`` of
            :func:`~.tracking.build_tracker`; None: the inferencer's
            ``tracker_cfg`` (its config's ``tracker``).
        fps (float, optional): frame folders' rate (30) or a video's; output.
        max_frames (int, optional): stop after this many frames.
        progress (bool | stream): the terminal progress line (stderr).
        capture_factory (callable, optional): opens inputs (tests: a fake).
        queue_frames (int): frames the writer may hold beyond what the
            drawing needs before the reader waits (realtime: drops).
        min_short_side (int): small frames are scaled up to this.
        handle_signals (bool): a stop signal finalises the outputs, then
            :meth:`run` raises ``RunInterrupted``.
        overwrite (bool): replace output files that exist; else refused.
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
                 link_iou: Optional[float] = None,
                 max_lost: Optional[int] = None,
                 max_shift: Optional[float] = None,
                 tracker: Optional[dict] = None,
                 fps: Optional[float] = None,
                 max_frames: Optional[int] = None,
                 progress: Union[bool, object] = True,
                 capture_factory: Optional[Callable] = None,
                 queue_frames: int = 64,
                 min_short_side: int = 360,
                 handle_signals: bool = True,
                 overwrite: bool = False) -> None:
        self.inferencer = inferencer
        check_ints('OnlineRunner', stride=stride)
        self.stride = int(stride)
        self.realtime = realtime
        self.out_dir = out_dir
        self.write_video = write_video and out_dir is not None
        self.video_codec = video_codec
        self.show = show
        if show and not display_available():
            warnings.warn('--show: no display (DISPLAY / WAYLAND_DISPLAY '
                          'unset); not showing the frames')
            self.show = False
        check_range('OnlineRunner', '[0, 1]', score_thr=score_thr)
        self.score_thr = float(score_thr)
        self.topk = topk
        self.tracker_cfg = tracker_settings(
            getattr(inferencer, 'tracker_cfg', None)
            if tracker is None else tracker,
            'OnlineRunner: tracker',
            link_iou=link_iou,
            max_lost=max_lost,
            max_shift=max_shift)
        build_tracker(self.tracker_cfg, who='OnlineRunner: tracker')
        self.fps = check_fps(fps)
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

    def _on_signal(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self.stop_event.set()

    def run(self,
            source: Union[str, int, FrameSource],
            name: Optional[str] = None) -> Dict:
        """Process one source to its end, ``max_frames``, a stop or a signal.

        Args:
            source (str | int | FrameSource): a spec (:func:`open_source`)
                or a source.
            name (str, optional): output files' stem (default: the source's).

        Returns:
            dict: the final :meth:`RunStats.snapshot` (``frames_read``,
            ``frames_written``, ``keyframes_done``, ..., lags in seconds),
            ``name``, ``fps``, ``codec``, ``num_tracks``, ``end_reason``,
            ``short_read``, ``summary``, the formatter's counts
            (``keyframes``, ``persons``, ``persons_with_action``,
            ``persons_removed``) and the output paths (``video``,
            ``jsonl``, ``tracks``; none with ``out_dir`` None).

        Raises:
            OSError: an output exists already or cannot be written.
            RunInterrupted: a signal stopped the run (outputs finalised).
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
        buffer = KeyframeClips(
            inf.clip_len,
            inf.frame_interval,
            self.stride,
            keyframe=getattr(inf, 'keyframe', 'centre'))
        tracker = build_tracker(self.tracker_cfg, inf.label_names, True)
        inf.reset_tracks()
        stats = RunStats()
        fps = self.fps or source.fps
        paths, out = {}, None
        try:
            if self.out_dir is not None:  # ResultWriter makes the folder
                paths = demo_output_paths(
                    self.out_dir,
                    name or source.name,
                    True,
                    write_video=self.write_video)
            fmt = ResultFormatter(inf.label_names, self.score_thr, self.topk,
                                  inf.person_thr)
            # all three files, or none; without them it only draws (show)
            out = ResultWriter(
                paths,
                fps,
                codec=self.video_codec,
                overwrite=self.overwrite,
                min_short_side=self.min_short_side,
                stream_header=fmt.header(
                    source,
                    self.stride,
                    self.tracker_cfg,
                    fps=fps,
                    num_frames=None))
            run = StreamRun(self, source, buffer, tracker, stats, out, fmt)
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
                    end_reason=getattr(source, 'end_reason', None),
                    short_read=getattr(source, 'short_read', False),
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
                            link_iou=self.tracker_cfg.get('link_iou'),
                            max_lost=self.tracker_cfg['max_lost'],
                            tracker=self.tracker_cfg,
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
                                 self._interrupted_message(result, out),
                                 result)
        return result

    def _interrupted_message(self, result: Dict, out: ResultWriter) -> str:
        kept = []
        if result.get('video') and result['frames_written']:
            kept.append(f"{result['video']} ({result['frames_written']} "
                        'frames, playable)')
        if out.jsonl is not None:
            kept.append(f'{out.jsonl.path} ({out.num_keyframes} keyframes)')
        if result.get('tracks'):
            kept.append(f"{result['tracks']} ({result['num_tracks']} "
                        'tracks)')
        return (f'{result["name"]}: interrupted by '
                f'{signal_name(self.signum)} after '
                f'{result["frames_read"]} frames and '
                f'{result["keyframes_done"]} keyframes; ' +
                ('kept what was processed: ' +
                 ', '.join(kept) if kept else 'no outputs (out_dir None)'))
