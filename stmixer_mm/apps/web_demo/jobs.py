"""The runs of the browser demo (:mod:`.server`): each job is the offline
demo's run (:func:`~stmixer_mm.apps.demo.run_offline`, as ``tools/demo.py``)
of :class:`~stmixer_mm.apis.STMixerInferencer` on one video, in a worker
thread, one job at a time: the drawn video at the source's frame rate
(``<name>_det.mp4``, each frame drawn with its nearest keyframe's persons),
the result document (``<name>_det.json``) and its CSV
(docs/en/web_demo.md)."""
import errno
import itertools
import json
import os
import os.path as osp
import queue
import re
import shutil
import sys
import threading
import traceback
from http import HTTPStatus
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence
from urllib.parse import quote

from stmixer_mm.apis.config_files import load_config, resolve_config
from stmixer_mm.apis.inferencers import STMixerInferencer
from stmixer_mm.apis.video_io import (CountingSource, FrameSource,
                                      VideoReadError, keyframe_indices,
                                      open_video)
from stmixer_mm.apps.data_gen.scene import build_demo
from stmixer_mm.apps.data_gen.settings import SyntheticAVASettings
from stmixer_mm.apps.data_gen.writers import write_demo_video
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.utils import CheckpointFileError, ConfigSettingError
from stmixer_mm.visualization.track_drawing import person_label
from ..demo import run_offline

__all__ = [
    'WebDemo', 'DemoJob', 'Choice', 'request_error', 'KINDS', 'MAX_NAME_CHARS',
    'read_body', 'request_field'
]

#: the files a run takes, each chosen or uploaded
KINDS = ('video', 'config', 'checkpoint')
#: the key of the built-in synthetic demo video among the video choices
SYNTHETIC = 'synthetic'
#: what the page names the command by in its messages
WHO = 'stmixer-web'
#: longest name of an uploaded file taken by default, and at most (most
#: file systems take names of at most 255 bytes, and a kept name is ASCII:
#: one byte a character; ``stmixer-web --max-name-length``)
MAX_NAME_CHARS = 255
#: the errors whose message names the file and what was expected
FILE_ERRORS = (ValueError, ModuleNotFoundError, OSError)
#: the kind of file each error is about: a run failing so withdraws the
#: upload of that kind (:meth:`WebDemo.withdraw`)
FILE_AT_FAULT = {
    VideoReadError: 'video',
    ConfigSettingError: 'config',
    CheckpointFileError: 'checkpoint',
}


def request_error(message: str,
                  status: int = 400,
                  headers: Sequence = ()) -> ValueError:
    """A request the page sent that cannot be run: a ``ValueError`` whose
    message names the field and what was expected, with the HTTP ``status``
    and ``headers`` of its answer (the server answers a ``ValueError``
    with a ``status`` so, and any other error with 500).

    Args:
        message (str): The message (the JSON answer's ``error``).
        status (int): The HTTP status of the answer. Defaults to 400.
        headers (Sequence[tuple[str, str]]): Headers of the answer (e.g.
            ``Content-Range`` of a 416). Defaults to none.

    Returns:
        ValueError: To raise.
    """
    error = ValueError(message)
    error.status, error.headers = status, list(headers)
    return error


#: a field a request does not give (:func:`request_field`)
_ABSENT = object()


def request_field(request: dict,
                  name: str,
                  expected: str,
                  accepts: Callable[[object], bool],
                  default=_ABSENT):
    """A field of a JSON request, its type and range checked.

    Args:
        request (dict): The request (a JSON object).
        name (str): The field.
        expected (str): What it must be, for the message (``'true or
            false'``).
        accepts (Callable[[object], bool]): True for a value it may be.
        default: The value of a field left out; left out itself: the field
            must be given.

    Returns:
        object: The value given, or ``default``.

    Raises:
        ValueError: The field is missing, or a value ``accepts`` refuses
            (``<name>: expected <expected>, got <the JSON value>``).
    """
    if name not in request:
        if default is _ABSENT:
            raise request_error(f'{name}: missing; expected {expected}')
        return default
    value = request[name]
    if not accepts(value):
        shown = json.dumps(value)
        shown = shown if len(shown) <= 60 else f'{shown[:57]}...'
        raise request_error(f'{name}: expected {expected}, got {shown}')
    return value


def _is_number(value) -> bool:
    """A JSON number (``true`` and ``false`` are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_probability(value) -> bool:
    return _is_number(value) and 0 <= value <= 1


def _is_string(value) -> bool:
    return isinstance(value, str)


def _is_stride(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) \
        and value >= 1


def read_body(stream, length: int, out, what: str) -> None:
    """Copy a request body of ``length`` bytes (its ``Content-Length``) from
    ``stream`` to ``out``, 1 MiB at a time: the one reader of every body.

    Args:
        stream (io.BufferedIOBase): The connection.
        length (int): Its bytes (>= 0, checked by the server).
        out (io.RawIOBase): Where they go (a file, ``io.BytesIO``).
        what (str): The request, for the messages.

    Raises:
        ValueError: The connection ended (400) or sent nothing for the
            server's read timeout (408) before ``length`` bytes.
    """
    done, read = 0, getattr(stream, 'read1', stream.read)  # what came
    while done < length:
        try:
            chunk = read(min(length - done, 1 << 20))
        except TimeoutError:
            raise request_error(
                f'{what}: nothing came for a while after {done} of its '
                f'{length} bytes', HTTPStatus.REQUEST_TIMEOUT) from None
        except OSError:  # reset by the client: as an ended connection
            chunk = b''
        if not chunk:
            raise request_error(f'{what}: the connection ended after {done} '
                                f'of its {length} bytes')
        out.write(chunk)
        done += len(chunk)


class Choice(NamedTuple):
    """A file the page offers: ``key`` (what the page sends back; never
    given twice), ``label`` (what it shows), ``path`` (on the server; the
    synthetic video's is written when a job first uses it)."""
    key: str
    label: str
    path: str


class _ReportingInferencer(STMixerInferencer):
    """The Inferencer, counting the frames its detection reads (the page
    shows how far a run is) and ending the run once :attr:`stop` is set."""

    #: the job that runs (None between jobs)
    job: Optional['DemoJob'] = None
    #: set: the run ends at its next frame (the server stops)
    stop: Optional[threading.Event] = None

    def iter_results(self, video, **kwargs):
        """:meth:`STMixerInferencer.iter_results` over the source as a
        ``CountingSource`` given to :attr:`job` (raising
        ``InterruptedError`` once :attr:`stop` is set); once the keyframes
        are done the job's state is ``drawing``.

        Args:
            video (str | FrameSource): As the Inferencer's.
            **kwargs: As the Inferencer's.

        Yields:
            tuple[KeyframeResult, dict]: As the Inferencer's.
        """
        if not isinstance(video, FrameSource):
            video = self.open(video, fps=kwargs.get('fps'))
        source = _StoppingSource(video, self.stop)
        if self.job is not None:
            self.job.source = source
        yield from super().iter_results(source, **kwargs)
        if self.job is not None:
            self.job.state = 'drawing'
            self.job.message = 'drawing the video at its frame rate'


class _StoppingSource(CountingSource):
    """A counted source raising ``InterruptedError`` at the first frame
    after ``stop`` is set (the Inferencer then removes its partial outputs)."""

    def __init__(self, source: FrameSource,
                 stop: Optional[threading.Event]) -> None:
        super().__init__(source)
        self.stop = stop

    def __iter__(self):
        for frame in super().__iter__():
            if self.stop is not None and self.stop.is_set():
                raise InterruptedError('stopped: the server is stopping')
            yield frame


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
        #: queued, preparing, loading, running, drawing, done or error
        self.state = 'queued'
        self.message = 'waiting for the run before it'
        self.num_frames: Optional[int] = None
        self.fps: Optional[float] = None
        #: ``video``, ``json``, ``csv``: the paths of the outputs
        self.outputs: Dict[str, str] = {}
        self.summary = ''
        #: ``{track id: label}`` of the persons of the result
        self.track_labels: Dict[int, str] = {}
        #: the source the Inferencer reads (set when it opens it)
        self.source: Optional[CountingSource] = None

    @property
    def frames_read(self) -> int:
        """Frames of the video read so far (0 before the run)."""
        return self.source.num_read if self.source is not None else 0

    def status(self) -> dict:
        """What the page shows of the job.

        Returns:
            dict: ``id``, ``state``, ``message``, ``frames_read``,
            ``num_frames`` (None: unknown), ``stride``; when done also
            ``video_url``, ``video_name``, ``json_url``, ``json_name``,
            ``fps`` (the source's and the drawn video's), ``summary`` and
            ``track_labels`` (``{track id: the label drawn on the person}``,
            the ids as JSON keys: strings).
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
                video_name=osp.basename(self.outputs['video']),
                json_url=f'/jobs/{self.id}/predictions.json',
                json_name=osp.basename(self.outputs['json']),
                fps=self.fps,
                summary=self.summary,
                track_labels={
                    str(k): v
                    for k, v in sorted(self.track_labels.items())
                })
        return out


_KEY = 'the key of a {} /api/choices lists (a string)'
#: the fields of a job request: ``request_field``'s expected, accepts and
#: default
_FIELDS = {
    **{
        kind: (_KEY.format(kind), _is_string, '')
        for kind in KINDS
    },
    'stride': ('a whole number of frames >= 1', _is_stride, 8),
    'score_thr': ('a number in [0, 1]', _is_probability, 0.3),
    'person_thr': ("a number in [0, 1], or null: the config's",
                   lambda v: v is None or _is_probability(v), None),
    'strict': ('true or false', lambda v: isinstance(v, bool), True),
}


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
            (``jobs/<n>/<name>_det.{mp4,json,csv}``); created.
        config (str, optional): The config offered first (the quick-start
            config by default, :mod:`stmixer_mm.apps.cli.web`).
        checkpoint (str, optional): The checkpoint offered; None: the page
            asks for one.
        videos (list[str]): Videos offered besides the synthetic one.
        device (str): Where the model runs. Defaults to ``'cpu'``.
        label_map (str, optional): As the Inferencer's ``label_map``.
        allow_config_upload (bool): Take uploaded configs. A config is a
            Python file that runs when it is read, so this lets whoever
            reaches the page run code. Defaults to False: the configs are
            those given here.
        max_name_chars (int): Longest name of an uploaded file taken
            (``stmixer-web --max-name-length``), at most 255
            (:data:`MAX_NAME_CHARS`, what file systems take). Defaults to
            255.
        config_given (bool): Whether the user gave ``config`` (shown as
            ``(given)``), else it is a default (``(default)``). Defaults to
            True.

    Raises:
        ValueError: A given file that does not exist (naming it), or
            ``max_name_chars`` not a whole number in [1, 255].
    """

    def __init__(self,
                 work_dir: str,
                 config: Optional[str] = None,
                 checkpoint: Optional[str] = None,
                 videos: List[str] = (),
                 device: str = 'cpu',
                 label_map: Optional[str] = None,
                 allow_config_upload: bool = False,
                 max_name_chars: int = MAX_NAME_CHARS,
                 config_given: bool = True) -> None:
        if isinstance(max_name_chars, bool) or not isinstance(
                max_name_chars, int) or max_name_chars < 1:
            raise ValueError('WebDemo: max_name_chars must be a whole number '
                             f'>= 1, got {max_name_chars!r}')
        if max_name_chars > MAX_NAME_CHARS:
            raise ValueError(
                f'WebDemo: max_name_chars is too large (at most '
                f'{MAX_NAME_CHARS}: file systems take names of at most '
                f'{MAX_NAME_CHARS} bytes), got {max_name_chars!r}')
        self.max_name_chars = max_name_chars
        if config is not None:  # stmixer_mm::<folder>/<config>.py, a name
            try:
                config = resolve_config(config).path
            except (ConfigSettingError, FileNotFoundError) as e:
                raise request_error(str(e)) from None
        given = [('config', config),
                 ('checkpoint', checkpoint)] + [('video', v) for v in videos]
        for kind, path in given:
            if path is not None and not osp.isfile(path):
                raise request_error(f'{kind} {path}: no such file')
        self._lock = threading.Lock()
        self.work_dir = osp.abspath(work_dir)
        self.uploads = osp.join(self.work_dir, 'uploads')
        os.makedirs(self.uploads, exist_ok=True)
        self.device = device
        self.label_map = label_map
        self.allow_config_upload = allow_config_upload
        self.choices: Dict[str, List[Choice]] = {k: [] for k in KINDS}
        self._keys = {k: itertools.count() for k in KINDS}
        for kind, path in given:
            if path is not None:
                how = 'default' if kind == 'config' and not config_given \
                    else 'given'
                self._offer(kind, path, f'{osp.basename(path)} ({how})')
        self.choices['video'].append(
            Choice(SYNTHETIC, 'synthetic demo video (8 s, 3 persons)',
                   osp.join(self.work_dir, 'synthetic', 'demo.mp4')))
        self.jobs: Dict[str, DemoJob] = {}
        self._job_ids = itertools.count(1)
        self._upload_ids = itertools.count(1)
        self._queue: 'queue.Queue[Optional[DemoJob]]' = queue.Queue()
        self._cache: Dict[tuple, _ReportingInferencer] = {}
        self._stop = threading.Event()
        #: the folders of the uploads being written (removed by close)
        self._writing = set()
        self._worker = threading.Thread(
            target=self._work, name='stmixer-web-jobs', daemon=True)
        self._worker.start()

    def _offer(self, kind: str, path: str, label: str) -> Choice:
        with self._lock:
            choice = Choice(f'{kind}:{next(self._keys[kind])}', label,
                            osp.abspath(path))
            self.choices[kind].append(choice)
        return choice

    def offered(self) -> dict:
        """The choices, for the page's selects.

        Returns:
            dict: per kind a list of ``dict(key, label)``: the files given
            (the first is the default), the synthetic video, the uploads;
            a video's also with ``preview_url`` (where the page plays it,
            :meth:`video_path`; None while the synthetic video is not
            written).
        """
        with self._lock:
            choices = {k: list(v) for k, v in self.choices.items()}
        out = {}
        for kind in KINDS:
            out[kind] = [dict(key=c.key, label=c.label) for c in choices[kind]]
        for entry, c in zip(out['video'], choices['video']):
            entry['preview_url'] = (f'/inputs/{quote(c.key)}'
                                    if osp.isfile(c.path) else None)
        return out

    def video_path(self, key: str) -> Optional[str]:
        """The file of an offered video (the page's preview).

        Args:
            key (str): Its key in :meth:`offered`.

        Returns:
            str | None: Its path; None: no video offered has this key, or
            its file is not there (yet).
        """
        with self._lock:
            found = [c.path for c in self.choices['video'] if c.key == key]
        return found[0] if found and osp.isfile(found[0]) else None

    def withdraw(self, choice: Choice) -> bool:
        """Offer an upload no more and remove its file (a run found it
        wrong: choosing it again would fail again). Files given on the
        command line and the synthetic video stay.

        Args:
            choice (Choice): The choice.

        Returns:
            bool: It was an upload offered, now withdrawn.
        """
        folder = osp.dirname(choice.path)
        if osp.dirname(folder) != self.uploads:
            return False
        with self._lock:
            found = any(choice in v for v in self.choices.values())
            for kind in KINDS:
                self.choices[kind] = [
                    c for c in self.choices[kind] if c != choice
                ]
        shutil.rmtree(folder, ignore_errors=True)
        return found

    def upload(self, kind: str, name: str, stream, length: int) -> Choice:
        """Keep an uploaded file and offer it.

        Args:
            kind (str): ``'video'``, ``'config'`` or ``'checkpoint'``.
            name (str): The file's name on the user's side (its last part
                is kept, in safe characters).
            stream (io.BufferedIOBase): The request body.
            length (int): Its bytes (the ``Content-Length``; the server
                bounds it, ``--max-upload-mb``).

        Returns:
            Choice: The new choice (label: the file's name).

        Raises:
            ValueError: An unknown kind, a config while
                ``allow_config_upload`` is off, a name longer than
                ``max_name_chars``, an empty file, or a body that ends
                before ``length`` bytes (then nothing of it is kept: the
                file and its folder are removed).
        """
        if kind not in KINDS:
            raise request_error(f'upload: kind={kind!r} is none of '
                                f'{", ".join(KINDS)}')
        if kind == 'config' and not self.allow_config_upload:
            raise request_error(
                f'upload of {name}: configs cannot be uploaded here: a '
                'config is a Python file that runs when it is read; choose '
                'one the page offers (given with --config), or start the '
                'server with --allow-config-upload where only people you '
                'trust reach it')
        if len(name) > self.max_name_chars:
            raise request_error(
                f'upload: a file name of {len(name)} characters ('
                f'{name[:20]}...); at most {self.max_name_chars} are taken '
                '(stmixer-web --max-name-length)')
        if length == 0:
            raise request_error(f'upload of {name}: the file is empty')
        with self._lock:
            folder = osp.join(self.uploads, str(next(self._upload_ids)))
        path = osp.join(folder, _safe_name(name))
        try:
            # made under the lock that close() removes them under: a file
            # cannot appear in a folder close() is removing
            with self._lock:
                if self._stop.is_set():
                    raise request_error(
                        f'upload of {name[:60]}: the server is stopping',
                        HTTPStatus.SERVICE_UNAVAILABLE)
                self._writing.add(folder)
                os.makedirs(folder)
                f = open(path, 'wb')
            with f:
                read_body(stream, length, f, f'upload of {name}')
        except OSError as e:  # named as uploaded: no server path shown
            shutil.rmtree(folder, ignore_errors=True)
            if e.errno == errno.ENAMETOOLONG:
                raise request_error(
                    f'upload of {name[:60]}: the server\'s file system '
                    f'refuses a name this long ({len(name)} characters); '
                    'choose a shorter name, or start the server with a '
                    'smaller --max-name-length') from None
            raise request_error(
                f'upload of {name[:60]}: the server cannot store it '
                f'({e.strerror or type(e).__name__})',
                HTTPStatus.INSUFFICIENT_STORAGE) from None
        except BaseException:  # nothing of it kept
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            with self._lock:
                self._writing.discard(folder)
        return self._offer(kind, path, osp.basename(path))

    def submit(self, request: dict) -> DemoJob:
        """Queue a run.

        Args:
            request (dict): The JSON object: ``video``, ``config``,
                ``checkpoint`` (keys of :meth:`offered`), ``stride`` (a
                whole number >= 1, default 8), ``score_thr`` (a number in
                [0, 1], default 0.3), ``person_thr`` (a number in [0, 1],
                or null / left out: the config's) and ``strict`` (true or
                false, default true); nothing else.

        Returns:
            DemoJob: The queued job.

        Raises:
            ValueError: A field unknown, missing, of another JSON type or
                out of range (naming it and what was expected).
        """
        unknown = sorted(set(request) - set(_FIELDS))
        if unknown:
            raise request_error(f'unknown field {", ".join(unknown)}; a job '
                                f'takes {", ".join(_FIELDS)}')
        value = {
            name: request_field(request, name, *checks)
            for name, checks in _FIELDS.items()
        }
        files = {}
        for kind in KINDS:
            found = [c for c in self.choices[kind] if c.key == value[kind]]
            if not found:
                raise request_error(
                    f'no {kind} chosen: choose one or upload one'
                    if not value[kind] else
                    f'{kind}={value[kind]!r} is not one the page offers')
            files[kind] = found[0]
        with self._lock:
            job_id = str(next(self._job_ids))
        job = DemoJob(job_id, files, value['stride'], value['score_thr'],
                      value['person_thr'], value['strict'],
                      osp.join(self.work_dir, 'jobs', job_id))
        self.jobs[job_id] = job
        self._queue.put(job)
        return job

    def close(self, timeout: Optional[float] = 60.0) -> bool:
        """Stop the worker and wait for it: the job that runs ends at its
        next frame (its partial outputs removed) while it detects; one
        drawing its video (decoding and encoding, no model) finishes it
        first; the queued ones do not run; the uploads being written are
        removed. A worker thread left in torch or a decoder at the
        interpreter's exit aborts it (``terminate called without an active
        exception``), so the server waits here before it exits.

        Args:
            timeout (float, optional): Seconds to wait at most (a model
                being built, the synthetic video or a drawn video being
                written ends first); None: until it stops. Defaults to 60.

        Returns:
            bool: The worker stopped.
        """
        self._stop.set()
        self._queue.put(None)
        with self._lock:
            for folder in self._writing:
                shutil.rmtree(folder, ignore_errors=True)
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                if self._stop.is_set():
                    raise InterruptedError('stopped: the server is stopping')
                self._run(job)
            except Exception as e:  # any: the page shows it, not a hang
                if isinstance(e, CheckpointMismatchError):
                    message = e.describe('non-strict (the box on the page)')
                elif isinstance(e, FILE_ERRORS + (InterruptedError, )):
                    message = str(e)
                else:
                    message = f'{type(e).__name__}: {e}'
                    traceback.print_exc(file=sys.stderr)
                message = self._shown(message)
                for error, kind in FILE_AT_FAULT.items():
                    if isinstance(e, error) and self.withdraw(job.files[kind]):
                        message += (f'\n({job.files[kind].label} is no '
                                    f'longer offered as a {kind}: upload it '
                                    'again once fixed)')
                        break
                job.state, job.message = 'error', message

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
        inferencer.job, inferencer.stop = job, self._stop
        try:
            result = run_offline(
                inferencer,
                video,
                job.out_dir,
                stride=job.stride,
                score_thr=job.score_thr)
        finally:
            inferencer.job = inferencer.stop = None
        job.outputs = {k: result[k] for k in ('video', 'json', 'csv')}
        job.num_frames = result['num_frames']
        job.track_labels = {
            p['track_id']: person_label(p['track_id'])
            for p in result['detections'] if 'track_id' in p
        }
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
            check_config(  # a refusal names the config path (withdrawn)
                load_config(key[0]),
                sections=('model', 'test_dataloader', 'val_dataloader'),
                consistency=False)
            self._cache[key] = _ReportingInferencer(
                key[0],
                key[1],
                device=self.device,
                label_map=self.label_map,
                person_thr=job.person_thr,
                strict=job.strict)
        return self._cache[key]
