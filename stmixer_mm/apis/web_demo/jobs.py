"""The runs of the browser demo (:mod:`.server`): each job runs
:class:`~stmixer_mm.apis.STMixerInferencer` on one video in a worker thread,
one job at a time, and the Inferencer writes the drawn video
(``vis/<name>.mp4``) and the prediction (``preds/<name>.json``) with its own
writers (docs/en/web_demo.md)."""
import itertools
import os
import os.path as osp
import queue
import re
import sys
import threading
import traceback
from typing import Callable, Dict, List, NamedTuple, Optional

from stmixer_mm.data_gen.scene import build_demo
from stmixer_mm.data_gen.settings import SyntheticAVASettings
from stmixer_mm.data_gen.writers import write_demo_video
from stmixer_mm.datasets.class_names import LabelMapError
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.utils import (CheckpointFileError, ConfigFileError,
                              ConfigSettingError)
from stmixer_mm.utils.dependencies import MissingExtraError
from stmixer_mm.utils.output_files import OutputFileError
from stmixer_mm.utils.setting_types import check_probability
from ..inferencers import STMixerInferencer
from ..results import inferencer_output_names
from ..video_io import (CountingSource, FrameSource, VideoReadError,
                        keyframe_indices, open_video)

__all__ = ['WebDemo', 'DemoJob', 'Choice', 'RequestError', 'KINDS']

#: the files a run takes, each chosen or uploaded
KINDS = ('video', 'config', 'checkpoint')
#: the key of the built-in synthetic demo video among the video choices
SYNTHETIC = 'synthetic'
#: what the page names the command by in its messages
WHO = 'stmixer-web'
#: the errors whose message names the file and what was expected
FILE_ERRORS = (VideoReadError, ConfigFileError, ConfigSettingError,
               CheckpointFileError, LabelMapError, MissingExtraError,
               OutputFileError, FileNotFoundError, ValueError)


class RequestError(ValueError):
    """A request the page sent that cannot be run (HTTP 400); the message
    names the field and what was expected."""


class Choice(NamedTuple):
    """A file the page offers: ``key`` (what the page sends back),
    ``label`` (what it shows), ``path`` (on the server; the synthetic
    video's is written when a job first uses it)."""
    key: str
    label: str
    path: str


class _ReportingInferencer(STMixerInferencer):
    """The Inferencer, keeping the source it opens (frames counted) so that
    the page can show how far a run has read."""

    #: called with each source opened (set by the job that runs)
    watcher: Optional[Callable[[CountingSource], None]] = None

    def open(self, video, fps: Optional[float] = None, **kwargs):
        """:meth:`STMixerInferencer.open`, counting the frames read.

        Args:
            video (str | FrameSource): As the Inferencer's.
            fps (float, optional): As the Inferencer's. Defaults to None.
            **kwargs: As the Inferencer's.

        Returns:
            FrameSource: The source, as a ``CountingSource`` (given to
            :attr:`watcher`).
        """
        source = super().open(video, fps=fps, **kwargs)
        if not isinstance(source, CountingSource):
            source = CountingSource(source)
        if self.watcher is not None:
            self.watcher(source)
        return source


class DemoJob:
    """One run of the demo on one video.

    Args:
        job_id (str): Its number, as text.
        files (dict[str, Choice]): The ``video``, ``config`` and
            ``checkpoint`` chosen.
        stride (int): Frames between two keyframes (>= 1).
        score_thr (float): Actions listed and drawn score at least this.
        person_thr (float, optional): Persons kept score at least this;
            None: the config's ``test_cfg.rcnn.person_threshold``.
        strict (bool): The checkpoint must fit the config.
        out_dir (str): Folder of its outputs.
    """

    def __init__(self, job_id: str, files: Dict[str, Choice], stride: int,
                 score_thr: float, person_thr: Optional[float], strict: bool,
                 out_dir: str) -> None:
        self.id = job_id
        self.files = files
        self.stride = stride
        self.score_thr = score_thr
        self.person_thr = person_thr
        self.strict = strict
        self.out_dir = out_dir
        #: queued, preparing, loading, running, done or error
        self.state = 'queued'
        self.message = 'waiting for the run before it'
        self.num_frames: Optional[int] = None
        self.fps: Optional[float] = None
        self.outputs: Dict[str, str] = {}
        self.summary = ''
        #: the source the Inferencer reads (set when it opens it)
        self.source: Optional[CountingSource] = None

    @property
    def frames_read(self) -> int:
        """Frames of the video read so far (0 before the run)."""
        return self.source.num_read if self.source is not None else 0

    def watch(self, source: CountingSource) -> None:
        """Count the frames of the source the Inferencer opened.

        Args:
            source (CountingSource): The source it reads.
        """
        self.source = source

    def status(self) -> dict:
        """What the page shows of the job.

        Returns:
            dict: ``id``, ``state``, ``message``, ``frames_read``,
            ``num_frames`` (None: unknown), ``stride``; when done also
            ``video_url``, ``json_url``, ``json_name``, ``vis_fps`` (the
            drawn video's frame rate: one frame per keyframe) and
            ``summary``.
        """
        out = dict(
            id=self.id,
            state=self.state,
            message=self.message,
            frames_read=self.frames_read,
            num_frames=self.num_frames,
            stride=self.stride)
        if self.state == 'done':
            out.update(
                video_url=f'/jobs/{self.id}/video.mp4',
                json_url=f'/jobs/{self.id}/predictions.json',
                json_name=osp.basename(self.outputs['pred']),
                vis_fps=max(self.fps / self.stride, 1.0),
                summary=self.summary)
        return out


def _safe_name(name: str) -> str:
    """The last part of an uploaded file's name, in letters, digits and
    ``._-`` (``'upload'`` if nothing is left)."""
    base = re.sub(r'[^A-Za-z0-9._-]+', '_', osp.basename(name.strip()))
    return base.strip('._') or 'upload'


class WebDemo:
    """The files offered, the uploads and the jobs of the browser demo.

    Args:
        work_dir (str): Folder of the uploads (``uploads/<n>/<name>``), the
            synthetic video (``synthetic/demo.mp4``) and the jobs' outputs
            (``jobs/<n>/{vis,preds}``); created.
        config (str, optional): The config offered first (the quick-start
            config by default, :mod:`stmixer_mm.cli.web`).
        checkpoint (str, optional): The checkpoint offered; None: the page
            asks for one.
        videos (list[str]): Videos offered besides the synthetic one.
        device (str): Where the model runs. Defaults to ``'cpu'``.
        label_map (str, optional): As the Inferencer's ``label_map``.
        allow_config_upload (bool): Take uploaded configs. A config is a
            Python file that runs when it is read, so this lets whoever
            reaches the page run code. Defaults to False: the configs are
            those given here.

    Raises:
        RequestError: A given file that does not exist (naming it).
    """

    def __init__(self,
                 work_dir: str,
                 config: Optional[str] = None,
                 checkpoint: Optional[str] = None,
                 videos: List[str] = (),
                 device: str = 'cpu',
                 label_map: Optional[str] = None,
                 allow_config_upload: bool = False) -> None:
        given = [('config', config),
                 ('checkpoint', checkpoint)] + [('video', v) for v in videos]
        for kind, path in given:
            if path is not None and not osp.isfile(path):
                raise RequestError(f'{kind} {path}: no such file')
        self._lock = threading.Lock()
        self.work_dir = osp.abspath(work_dir)
        self.uploads = osp.join(self.work_dir, 'uploads')
        os.makedirs(self.uploads, exist_ok=True)
        self.device = device
        self.label_map = label_map
        self.allow_config_upload = allow_config_upload
        self.choices: Dict[str, List[Choice]] = {k: [] for k in KINDS}
        for kind, path in given:
            if path is not None:
                self._offer(kind, path, f'{osp.basename(path)} (given)')
        self.choices['video'].append(
            Choice(SYNTHETIC, 'synthetic demo video (8 s, 3 persons)',
                   osp.join(self.work_dir, 'synthetic', 'demo.mp4')))
        self.jobs: Dict[str, DemoJob] = {}
        self._job_ids = itertools.count(1)
        self._upload_ids = itertools.count(1)
        self._queue: 'queue.Queue[Optional[DemoJob]]' = queue.Queue()
        self._cache: Dict[tuple, _ReportingInferencer] = {}
        self._worker = threading.Thread(
            target=self._work, name='stmixer-web-jobs', daemon=True)
        self._worker.start()

    def _offer(self, kind: str, path: str, label: str) -> Choice:
        with self._lock:
            choice = Choice(f'{kind}:{len(self.choices[kind])}', label,
                            osp.abspath(path))
            self.choices[kind].append(choice)
        return choice

    def offered(self) -> dict:
        """The choices, for the page's selects.

        Returns:
            dict: per kind a list of ``dict(key, label)``: the files given
            (the first is the default), the synthetic video, the uploads.
        """
        return {
            kind: [dict(key=c.key, label=c.label) for c in self.choices[kind]]
            for kind in KINDS
        }

    def upload(self, kind: str, name: str, stream, length: int) -> Choice:
        """Keep an uploaded file and offer it.

        Args:
            kind (str): ``'video'``, ``'config'`` or ``'checkpoint'``.
            name (str): The file's name on the user's side (its last part
                is kept, in safe characters).
            stream (io.BufferedIOBase): The request body.
            length (int): Its bytes (the ``Content-Length``).

        Returns:
            Choice: The new choice (label: the file's name).

        Raises:
            RequestError: An unknown kind, a config while
                ``allow_config_upload`` is off, or a body shorter than
                ``length``.
        """
        if kind not in KINDS:
            raise RequestError(f'upload: kind={kind!r} is none of '
                               f'{", ".join(KINDS)}')
        if kind == 'config' and not self.allow_config_upload:
            raise RequestError(
                f'upload of {name}: configs cannot be uploaded here: a '
                'config is a Python file that runs when it is read; choose '
                'one the page offers (given with --config), or start the '
                'server with --allow-config-upload where only people you '
                'trust reach it')
        with self._lock:
            folder = osp.join(self.uploads, str(next(self._upload_ids)))
        os.makedirs(folder)
        path = osp.join(folder, _safe_name(name))
        left = length
        with open(path, 'wb') as f:
            while left > 0:
                chunk = stream.read(min(left, 1 << 20))
                if not chunk:
                    raise RequestError(
                        f'upload of {name}: the connection ended after '
                        f'{length - left} of its {length} bytes')
                f.write(chunk)
                left -= len(chunk)
        return self._offer(kind, path, osp.basename(path))

    def submit(self, request: dict) -> DemoJob:
        """Queue a run.

        Args:
            request (dict): ``video``, ``config``, ``checkpoint`` (keys of
                :meth:`offered`), ``stride`` (int >= 1, default 8),
                ``score_thr`` (in [0, 1], default 0.3), ``person_thr``
                (in [0, 1] or None: the config's) and ``strict`` (default
                True).

        Returns:
            DemoJob: The queued job.

        Raises:
            RequestError: A field missing or out of range (naming it).
        """
        files = {}
        for kind in KINDS:
            key = request.get(kind)
            found = [c for c in self.choices[kind] if c.key == key]
            if not found:
                raise RequestError(
                    f'no {kind} chosen: choose one or upload one' if not key
                    else f'{kind}={key!r} is not one the page offers')
            files[kind] = found[0]
        stride = request.get('stride', 8)
        if isinstance(stride, bool) or not isinstance(stride, int) \
                or stride < 1:
            raise RequestError(
                f'stride={stride!r}: expected a whole number of frames >= 1')
        try:
            score_thr = check_probability(
                request.get('score_thr', 0.3), 'score_thr')
            person_thr = request.get('person_thr')
            if person_thr is not None:
                person_thr = check_probability(person_thr, 'person_thr')
        except (TypeError, ValueError) as e:
            raise RequestError(str(e)) from None
        with self._lock:
            job_id = str(next(self._job_ids))
        job = DemoJob(job_id, files, stride, score_thr, person_thr,
                      bool(request.get('strict', True)),
                      osp.join(self.work_dir, 'jobs', job_id))
        self.jobs[job_id] = job
        self._queue.put(job)
        return job

    def close(self) -> None:
        """Stop the worker after the job it runs (the queued ones stay
        queued)."""
        self._queue.put(None)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._run(job)
            except Exception as e:  # any: the page shows it, not a hang
                message = (
                    e.describe('non-strict (the box on the page)')
                    if isinstance(e, CheckpointMismatchError) else str(e) if
                    isinstance(e, FILE_ERRORS) else f'{type(e).__name__}: {e}')
                job.state, job.message = 'error', self._shown(message)
                if not isinstance(e, FILE_ERRORS +
                                  (CheckpointMismatchError, )):
                    traceback.print_exc(file=sys.stderr)

    def _shown(self, message: str) -> str:
        """``message`` with the uploads' folders left out (each upload is
        named as the user named it)."""
        return re.sub(
            re.escape(self.uploads + os.sep) + r'\d+' + re.escape(os.sep), '',
            message)

    def _run(self, job: DemoJob) -> None:
        video = job.files['video'].path
        if job.files['video'].key == SYNTHETIC and not osp.isfile(video):
            job.state = 'preparing'
            job.message = 'writing the synthetic demo video'
            part = osp.join(osp.dirname(video), 'writing.mp4')
            write_demo_video(build_demo(SyntheticAVASettings()), part)
            os.replace(part, video)  # whole, or not there
        job.state, job.message = 'preparing', 'opening the video'
        source: FrameSource = open_video(video, who=WHO)
        job.num_frames, job.fps = source.num_frames, source.fps
        source.close()  # read: before the model is built
        job.state, job.message = 'loading', 'building the model'
        inferencer = self._inferencer(job)
        job.state, job.message = 'running', 'detecting'
        inferencer.watcher = job.watch
        try:
            inferencer(
                video,
                out_dir=job.out_dir,
                no_save_pred=False,
                stride=job.stride,
                score_thr=job.score_thr,
                pred_score_thr=job.score_thr)
        finally:
            inferencer.watcher = None
        (name, ) = inferencer_output_names([video])
        job.outputs = dict(
            vis=osp.join(job.out_dir, 'vis', f'{name}.mp4'),
            pred=osp.join(job.out_dir, 'preds', f'{name}.json'))
        job.num_frames = job.frames_read
        keyframes = len(keyframe_indices(job.num_frames, job.stride))
        job.summary = (f'{job.num_frames} frames, {keyframes} keyframes '
                       f'(stride {job.stride}) of {osp.basename(video)}')
        job.state, job.message = 'done', 'done'

    def _inferencer(self, job: DemoJob) -> _ReportingInferencer:
        """The Inferencer of the job's config and checkpoint (the last one
        built is kept)."""
        key = (job.files['config'].path, job.files['checkpoint'].path,
               job.person_thr, job.strict)
        if key not in self._cache:
            self._cache.clear()
            self._cache[key] = _ReportingInferencer(
                key[0],
                key[1],
                device=self.device,
                label_map=self.label_map,
                person_thr=job.person_thr,
                strict=job.strict)
        return self._cache[key]
