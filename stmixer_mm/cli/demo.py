"""The command line of the spatio-temporal action detection demo
(``demo/demo_spatiotemporal_det.py``, and ``tools/demo.py``, the same
command): videos, frame folders, folders of videos, webcams and streams.
Here are its arguments and ``main(argv)``; the driver is
:mod:`stmixer_mm.apis.demo`.

    python demo/demo_spatiotemporal_det.py INPUT CONFIG CHECKPOINT
        [--out-dir DIR] [--overwrite]
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
keyframe, in the online demo's style (boxes with their actions, each
label block inside the frame and clear of the others where there is room:
:func:`~stmixer_mm.visualization.place_label_blocks`).
``<out-dir>/<name>_det.mp4`` and the detections
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

Which persons are written is one rule, offline and online alike (and in
``STMixerInferencer``): every query whose person score reaches
``--person-thr`` (default: the config's ``test_cfg.person_threshold``) is
a person, written with its actions scoring at least ``--score-thr`` (at
most ``--topk``); a person without such an action is written with none
(``"actions": {}``; no row in the CSV, a row per action). ``--score-thr``
removes actions, never a person. The last line says how many persons were
written on how many keyframes and how many list an action; when none is
written, which setting removed them. The fallback queries that the AVA
evaluation keeps below the person threshold (``test_cfg.num_fallback``)
are switched off, so a video without people gives no detections. The
checkpoint must fit the config (``--non-strict`` loads the matching part).

Output names and safety: the outputs of an input are named by its stem
(``clip.mp4`` gives ``clip_det.mp4``, ...; a frame folder its name, a
webcam ``webcam<N>``). Where two videos of a folder of videos share a stem
(``clip.mp4`` and ``clip.avi``) each of them is named by its whole file
name instead (``clip.mp4_det.json``, ``clip.avi_det.json``), and if that
still leaves two the same, every video of the folder is. Nothing is
overwritten unasked: an output path that exists (an earlier run's result,
a folder, a second demo writing to the same ``--out-dir``) is refused with
an error naming it, before the model loads, for every output of the run
(and claimed when its input starts: the check and the creation of a file
are one atomic step, so two concurrent runs never write one file): pass
``--overwrite``, remove it or choose another ``--out-dir``.
``--overwrite`` replaces output files (each when its new output is
complete; the ``.jsonl`` of ``--online``, written as it goes, is emptied
when the run starts), never a folder, and never an input of the run (a
video of the folder of videos being processed, or a link to it). The
video and the ``.json`` / ``.csv`` files are written under a hidden
temporary name (``.<stem>.<pid>.part<ext>``) and renamed when complete. A
write that fails (a full disk) names the file, what was written of it and
the error.

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
import os.path as osp
import sys

from mmengine.config import DictAction

from stmixer_mm.apis import LabelMapError
from stmixer_mm.apis.demo import (check_demo_options, link_keyframe_tubes,
                                  run_demo, run_offline, run_online)
from stmixer_mm.apis.results import demo_output_names as output_names
from stmixer_mm.apis.results import demo_output_paths as output_paths
from stmixer_mm.apis.stop_signals import RunInterrupted
from stmixer_mm.apis.video_io import VideoReadError, check_fps
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.utils import (CheckpointFileError, ConfigFileError,
                              ConfigSettingError)
from stmixer_mm.utils.output_files import OutputFileError
from stmixer_mm.utils.settings_specs import check_probability

__all__ = [
    'parse_args', 'main', 'run', 'run_demo', 'run_online', 'run_offline',
    'output_names', 'output_paths', 'link_keyframe_tubes'
]

#: how the errors name the command (``main(prog=...)``)
PROG = 'tools/demo.py'


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
    """A threshold flag: a number in [0, 1] (``check_probability``)."""
    try:
        return check_probability(float(text), 'the value')
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected a number in [0, 1], got {text!r}') from None


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


def parse_args(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description='STMixer video demo')
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
        'there already is refused (see --overwrite). Outputs are named by '
        'the input\'s stem (clip_det.mp4), by the whole file name where '
        'two videos of a folder share a stem (clip.mp4_det.mp4)')
    p.add_argument(
        '--overwrite',
        action='store_true',
        help='replace the output files that exist (each when its new output '
        'is complete); folders and the inputs themselves are still refused')
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
        help='write the persons scoring at least this (default: the '
        "config's test_cfg.person_threshold)")
    p.add_argument(
        '--score-thr',
        type=unit_float,
        default=0.3,
        help='list the actions scoring at least this (in [0, 1]); a person '
        'without one is still written, with no action')
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
    try:
        args.online = check_demo_options(args.input, args.online,
                                         args.realtime, args.tubes, args.show,
                                         args.max_frames, args.max_lost)
    except ValueError as e:
        p.error(str(e))
    return args


def run(args, capture_factory=None):
    """:func:`~stmixer_mm.apis.demo.run_demo` with the parsed arguments."""
    return run_demo(**vars(args), capture_factory=capture_factory)


def main(argv=None, prog=PROG):
    """Run the demo on the command line ``argv`` (default ``sys.argv[1:]``);
    errors are reported as ``<prog>: <message>`` (exit code 1, 128 + the
    signal number when stopped by one)."""
    try:
        return run(parse_args(argv, prog=osp.basename(prog)))
    except RunInterrupted as e:
        print(f'\n{prog}: {e}', file=sys.stderr)
        sys.exit(e.exit_code)
    except OutputFileError as e:
        raise SystemExit(f'{prog}: {e}') from None
    except CheckpointMismatchError as e:
        raise SystemExit(f'{prog}: {e.describe("--non-strict")}') from None
    except (LabelMapError, ConfigFileError, CheckpointFileError,
            VideoReadError) as e:
        raise SystemExit(f'{prog}: {e}') from None
    except ConfigSettingError as e:
        raise SystemExit(f'{prog}: config: {e}') from None
