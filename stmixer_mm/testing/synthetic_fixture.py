"""The cases of the synthetic generators' pinned output
(``tests/data/synthetic/synthetic_fixture.json``): running them and describing
what they wrote. ``tests/data/synthetic/generate_synthetic_fixture.py``
regenerates the fixture, ``tests/test_data_gen/test_synthetic_pinned.py``
compares with it. Per file of :data:`CASES`: SHA-256 (JPEG / mp4 bytes only
under the recorded OpenCV), 4x6 ``INTER_AREA`` thumbnails (with a tolerance)
or ``tubes_GT.pkl``'s content; also the tools' masked stdout, return value.
"""
import base64
import contextlib
import hashlib
import importlib
import io
import os
import os.path as osp
import re

import cv2
import numpy as np

from stmixer_mm.data_gen import synthetic_tubes
from stmixer_mm.utils.checkpoint_loading import load_pickle

THUMB_WH = (6, 4)

CASES = dict(
    ava=dict(
        tool='tools/data/generate_synthetic_ava.py',
        argv=[
            '--num-train-videos', '2', '--num-val-videos', '1',
            '--seconds-per-video', '3', '--width', '96', '--height', '64',
            '--demo-seconds', '2', '--exclude-prob', '0.25', '--seed', '3'
        ]),
    tubes=dict(
        tool='tools/data/generate_synthetic_tubes.py',
        argv=[
            '--num-train-videos', '2', '--num-val-videos', '2', '--width',
            '96', '--height', '64', '--seed', '1', '--no-demo'
        ]),
    tubes_per_keyframe=dict(
        api='generate_synthetic_tubes',
        kwargs=dict(
            num_train_videos=1,
            num_val_videos=1,
            seconds_per_video=3,
            fps=8,
            width=80,
            height=64,
            actor_states='per_keyframe',
            jump_phase='start',
            write_demo=False,
            seed=5)))

#: the ``main`` of each tool of :data:`CASES` (module, function)
TOOL_MAINS = {
    'tools/data/generate_synthetic_ava.py':
    ('stmixer_mm.cli.generate_synthetic_ava', 'main'),
    'tools/data/generate_synthetic_tubes.py':
    ('stmixer_mm.data_gen.synthetic_tubes', 'main'),
}

_BAR = re.compile(r'^\[[> ]*\] \d+/\d+')
_LOG = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - mmengine - ')


def clean_stdout(text: str, out_dir: str) -> str:
    """``text`` without mmengine's progress bar and log lines, timings and
    ``out_dir``."""
    lines = []
    for line in text.split('\n'):
        pieces = [p for p in line.split('\r') if p and not _BAR.match(p)]
        if pieces and not _LOG.match(pieces[-1]):
            lines.append(pieces[-1])
    text = '\n'.join(lines).replace(out_dir, '{out_dir}')
    return re.sub(r'\(\d+\.\d s;', '(T s;', text)


def run_case(name: str, out_dir: str) -> dict:
    """Run case ``name`` into ``out_dir``; return its printed output and
    return value."""
    case = CASES[name]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        if 'tool' in case:
            module, func = TOOL_MAINS[case['tool']]
            main = getattr(importlib.import_module(module), func)
            ret = main(['--out-dir', out_dir] + case['argv'])
        else:
            paths = getattr(synthetic_tubes, case['api'])(out_dir,
                                                          **case['kwargs'])
            ret = sorted(
                osp.relpath(p, out_dir) if p != out_dir else '.'
                for p in paths.values())
    return dict(stdout=clean_stdout(buf.getvalue(), out_dir), ret=ret)


def thumbnails(frames) -> str:
    """Base64 of the ``uint8`` 4x6x3 area thumbnails of ``frames``."""
    thumbs = [
        cv2.resize(f, THUMB_WH, interpolation=cv2.INTER_AREA) for f in frames
    ]
    return base64.b64encode(np.stack(thumbs).tobytes()).decode()


def decode_thumbnails(text: str) -> np.ndarray:
    """``[n, 4, 6, 3]`` uint8 thumbnails from :func:`thumbnails`."""
    w, h = THUMB_WH
    return np.frombuffer(base64.b64decode(text), np.uint8).reshape(-1, h, w, 3)


def video_frames(path: str):
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def tube_gt_content(path: str) -> dict:
    """``tubes_GT.pkl`` as JSON-able data (arrays as nested lists, keys as
    strings, tuples as lists) plus the arrays' dtypes."""
    gt = load_pickle(path, 'numpy', 'ACT ground-truth file')

    def plain(x):
        if isinstance(x, np.ndarray):
            return dict(dtype=str(x.dtype), data=x.tolist())
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, np.generic):
            return x.item()
        return x

    return plain(gt)


def describe(out_dir: str) -> dict:
    """``{relative path: record}`` of every file under ``out_dir``."""
    files = {}
    for root, _, names in os.walk(out_dir):
        for name in names:
            full = osp.join(root, name)
            rel = osp.relpath(full, out_dir).replace(os.sep, '/')
            with open(full, 'rb') as f:
                rec = dict(sha256=hashlib.sha256(f.read()).hexdigest())
            if name.endswith('.jpg'):
                rec['thumbs'] = thumbnails([cv2.imread(full)])
            elif name.endswith('.mp4'):
                rec['thumbs'] = thumbnails(video_frames(full))
            elif name.endswith('.pkl'):
                rec['content'] = tube_gt_content(full)
            files[rel] = rec
    return dict(sorted(files.items()))
