"""The command line of the action detection demo (``tools/demo.py``,
``demo/demo_spatiotemporal_det.py``); the driver is
:mod:`stmixer_mm.apps.demo`."""
import argparse
import sys

from stmixer_mm.apis.results import demo_output_names as output_names
from stmixer_mm.apis.video_io import check_fps
from stmixer_mm.apps.command_errors import (command_error, command_name,
                                            whole_number)
from stmixer_mm.apps.demo import (check_demo_options, link_keyframe_tubes,
                                  run_demo)
from stmixer_mm.apps.stop_signals import RunInterrupted
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.utils.checks import ConfigSettingError, check_range
from . import CONFIG_HELP, add_cfg_options, frame_bound_or_exit

__all__ = [
    'parse_args', 'main', 'run', 'run_demo', 'output_names',
    'link_keyframe_tubes'
]


#: the frame counts (--stride, --max-frames): whole numbers >= 1
def frames(text: str) -> int:
    return whole_number(text, what=' (a positive number of frames)')


def unit_float(text: str) -> float:
    """A threshold flag: a number in [0, 1]."""
    try:
        check_range('the value', '[0, 1]', value=float(text))
        return float(text)
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
    p.add_argument('config', help=CONFIG_HELP)
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
        type=frames,
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
        '--topk', type=whole_number, default=3, help='actions per person')
    p.add_argument(
        '--fps',
        type=frame_rate,
        help='frame rate of a frame folder / output fps (default: the '
        "video's, 30 for a frame folder)")
    p.add_argument('--device', default='cpu')
    add_cfg_options(
        p, help='override settings of the config, key=value (as stmixer-test)')
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
        type=frames,
        help='with --online: stop after this many frames')
    p.add_argument(
        '--max-lost',
        type=int,
        default=None,
        help="keyframes a person may be missed and keep its track id "
        "(offline and online; default: the config's tracker's, 3)")
    p.add_argument(
        '--tubes',
        action='store_true',
        help='also write the per-person tubes of the track ids: '
        '<name>_tubes.json (offline)')
    p.add_argument(
        '--tube-iou',
        type=unit_float,
        default=None,
        help="the greedy tracker's IoU a box needs with the last box of a "
        "track to extend it (default: the config's tracker's, 0.5); the "
        'tracker is the config\'s tracker=dict(type=...), e.g. '
        '--cfg-options tracker.type=ByteTracker (docs/en/online.md)')
    args = p.parse_args(argv)
    try:
        args.online = check_demo_options(args.input, args.online,
                                         args.realtime, args.tubes, args.show,
                                         args.max_frames, args.max_lost)
    except ValueError as e:
        p.error(str(e))
    return args


def run(args, capture_factory=None):
    """:func:`~stmixer_mm.apps.demo.run_demo` with the parsed arguments."""
    return run_demo(**vars(args), capture_factory=capture_factory)


def main(argv=None, prog=None):
    """Run the demo on the command line ``argv`` (default ``sys.argv[1:]``);
    errors are reported as ``<prog>: error: <message>`` (exit code 1, 128 +
    the signal number when stopped by one; ``prog`` defaults to
    :func:`~stmixer_mm.apps.command_errors.command_name`)."""
    prog = prog or command_name()
    args = parse_args(argv, prog=prog)
    frame_bound_or_exit(prog)  # the environment, before any work
    try:
        return run(args)
    except RunInterrupted as e:
        print(f'\n{prog}: {e}', file=sys.stderr)
        sys.exit(e.exit_code)
    except CheckpointMismatchError as e:
        raise SystemExit(command_error(e.describe('--non-strict'),
                                       prog)) from None
    except ConfigSettingError as e:  # a setting's path, or the file
        said = str(e) if str(e).startswith('config ') else f'config: {e}'
        raise SystemExit(command_error(said, prog)) from None
    except (OSError, ValueError) as e:  # the message names the file
        raise SystemExit(command_error(e, prog)) from None
