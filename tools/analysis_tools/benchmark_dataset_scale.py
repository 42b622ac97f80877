"""Data set start and the doctor at scale (issue 75, items 3 and 5).

``--doctor``: the doctor's AVA checks (``check_ava_split``, no frame folder)
and the build of ``AVAActorDataset`` on a synthetic AVA v2.2-sized csv
(``--fraction`` of its 1.26 M rows), each in a fresh process: seconds, peak
RSS above the import (VmHWM reset once imported) and a digest of the
doctor's findings. ``--frames``: the frame check of ``use_frames=True``
(``--videos`` folders of ``--frames-per-video`` empty frame files), the
data set's build against mmaction2's ``AVADataset``, ``frame_check`` scan
and skip. ``--metrics``: ``TubeMetric`` per protocol (:func:`tube_set`)
and mmaction2's ``AVAMetric`` at ``--fraction`` of the real test sets.
``--pipeline``: the AVA v2.2 training pipeline on samples of a data set of
``--fraction`` of the training csv, ours and mmaction2's
(:func:`measure_pipeline`).
``PYTHONPATH`` picks the ``stmixer_mm`` to measure.

``--metrics ucf_jhmdb --moc-dir DIR`` also runs the reference,
MOC-Detector's own evaluation code (``src/ACT.py``: ``BuildTubes``,
``frameAP``, ``videoAP`` and ``videpAP_050_095``'s mean), on the same
synthetic set at each fraction: :func:`write_moc_set` writes it in MOC's
formats in one fresh process (not timed), :func:`measure_moc` runs MOC's
functions in another (seconds and peak RSS above the start, the metrics;
they must equal ``TubeMetric``'s) and prints a line with ``"metric":
"ucf_jhmdb_moc"``. DIR is a checkout of MOC-Detector or its ``src/``,
supplied by the user (the tool never downloads it, the tests never need
it); read and verified at commit ``45c3fd0`` (:data:`MOC_COMMIT`)::

    git clone https://github.com/MCG-NJU/MOC-Detector /tmp/MOC-Detector
    cd /tmp/MOC-Detector
    git checkout 45c3fd0c5e4ca455e7e739f3ad80b2c91813df35

MOC's files are not edited: its ``datasets`` package (torch, cv2, the
training sampler) and ``progress`` (if not installed) are replaced by
minimal stand-ins in the child process, and its ``int()`` of one-element
arrays (``iou3dt``; a TypeError under numpy 2.4) gets numpy 1's meaning.
MOC reads one pickle per frame: at fraction 1 about 165 k files, 0.7 GB,
which take minutes to create on a disk (not timed; ``TMPDIR=/dev/shm``
is about 6x faster). Below fraction 0.027 some of the 24 classes have no
test video: ``TubeMetric`` stops (ValueError) where MOC divides by zero
(ZeroDivisionError), and both lines give the error.

``--metrics multisports --multisports-dir DIR`` also runs the official
MultiSports evaluation (``evaluate_multisports.py``'s ``frameAP`` and
``videoAP``, read at commit ``a29e291``, :data:`MULTISPORTS_COMMIT`) on
tubes linked by mmaction2's ``link_tubes`` (the repository has no linking
code): :func:`write_multisports_set` writes the set as the script reads it,
:func:`measure_multisports` runs it (``"metric": "multisports_official"``;
the stand-ins are listed in :func:`_import_multisports`). DIR is a
checkout of https://github.com/MCG-NJU/MultiSports, supplied by the user.

Example::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --doctor --fraction 0.125 0.25
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --frames --videos 4 --frames-per-video 27000
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --pipeline --fraction 0.25 0.5 1
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --metrics ucf_jhmdb --fraction 0.03 --moc-dir /tmp/MOC-Detector
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --metrics multisports --fraction 0.02 --multisports-dir /tmp/ms
"""
import argparse
import atexit
import hashlib
import inspect
import json
import os
import os.path as osp
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

AVA_ROWS = 1_260_000  # AVA v2.2 training csv
AVA_VAL_ROWS = 343_000  # AVA v2.2 validation csv


def write_ava_csv(path: str, rows: int, seed: int = 0) -> int:
    """A synthetic AVA csv of ``rows`` rows: videos of keyframes 902..1798
    (as AVA), 1-4 persons a keyframe with 1-3 actions each (about 5 rows a
    keyframe; AVA: 6), boxes with 3 decimals placed at random.

    Args:
        path (str): The csv to write.
        rows (int): About how many rows.
        seed (int): The random seed. Defaults to 0.

    Returns:
        int: The rows written.
    """
    rng = random.Random(seed)
    videos = rows // (897 * 5) + 2  # enough videos: stops at ``rows``
    written = 0
    with open(path, 'w') as f:
        for v in range(videos):
            video = f'vid{v:04d}_{rng.getrandbits(32):08x}'
            for ts in range(902, 1799):
                if written >= rows:
                    return written
                for pid in range(rng.randint(1, 4)):
                    x, y = rng.uniform(0, .6), rng.uniform(0, .5)
                    box = f'{x:.3f},{y:.3f},{x + .3:.3f},{y + .45:.3f}'
                    for action in rng.sample(range(1, 81), rng.randint(1, 3)):
                        f.write(f'{video},{ts},{box},{action},{pid}\n')
                        written += 1
    return written


def _status_kib(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise OSError(key)


def _peak_meter():
    """``(base KiB, peak())``: VmHWM reset to the RSS now."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return _status_kib('VmRSS'), lambda: _status_kib('VmHWM')
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, \
            lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _commit(checkout: str) -> Optional[str]:
    """The git commit of ``checkout`` (not of a repository around it);
    None when it is not a git checkout or git is missing."""
    if not osp.exists(osp.join(checkout, '.git')):
        return None
    try:
        return subprocess.run(['git', '-C', checkout, 'rev-parse', 'HEAD'],
                              capture_output=True,
                              text=True).stdout.strip() or None
    except OSError:  # no git
        return None


def _reference_record(start: float, steps: dict, peak: tuple,
                      metrics: dict) -> dict:
    """A reference run's record: ``seconds`` since ``start``, ``steps``,
    ``peak_above_start_mib`` (``peak`` is :func:`_peak_meter`'s pair) and
    the metrics, rounded as :func:`measure_metric` rounds them."""
    base, peak_of = peak
    return dict(
        seconds=round(time.perf_counter() - start, 1),
        steps={
            k: round(v, 1)
            for k, v in steps.items()
        },
        peak_above_start_mib=round((peak_of() - base) / 1024, 1),
        metrics={
            k: round(float(v), 4)
            for k, v in metrics.items()
        })


def measure(what: str,
            csv_path: str,
            frame_root: str = '',
            frame_check: str = 'scan') -> dict:
    """One measurement in this process (call in a fresh one).

    Args:
        what (str): ``'doctor'``, ``'dataset'`` (``AVAActorDataset``) or
            ``'mmaction2'`` (mmaction2's ``AVADataset``).
        csv_path (str): The AVA csv.
        frame_root (str): ``data_prefix.img`` (``use_frames=True``); empty:
            no frames. Defaults to ''.
        frame_check (str): The data set's ``frame_check``. Defaults to
            ``'scan'``.

    Returns:
        dict: ``seconds``, ``peak_above_import_mib``, ``digest`` (doctor:
        its findings) or ``samples``.
    """
    from mmaction.datasets import AVADataset
    from mmengine.config import Config

    import stmixer_mm  # noqa: F401
    from stmixer_mm.apps.dataset_doctor.ava import check_ava_split
    from stmixer_mm.apps.dataset_doctor.report import DatasetReport
    from stmixer_mm.datasets import AVAActorDataset
    ds = dict(
        ann_file=csv_path,
        pipeline=[],
        use_frames=bool(frame_root),
        data_prefix=dict(img=frame_root),
        start_index=1)
    base, peak_of = _peak_meter()
    start = time.perf_counter()
    out = {}
    if what == 'doctor':
        report = DatasetReport()
        check_ava_split(report,
                        Config(dict(train_dataloader=dict(dataset=ds))),
                        'train')
        text = json.dumps([
            vars(f) if hasattr(f, '__dict__') else repr(f)
            for f in report.findings
        ],
                          default=str) + repr(
                              (report.keyframes, report.histograms))
        out['digest'] = hashlib.sha256(
            text.replace(csv_path, '<csv>').encode()).hexdigest()[:16]
    else:
        cls = AVADataset if what == 'mmaction2' else AVAActorDataset
        extra = dict(frame_check=frame_check) if (
            what == 'dataset' and 'frame_check' in inspect.signature(
                AVAActorDataset.__init__).parameters) else {}
        out['samples'] = len(cls(**ds, **extra))
    out['seconds'] = round(time.perf_counter() - start, 2)
    out['peak_above_import_mib'] = round((peak_of() - base) / 1024, 1)
    return out


def write_frame_links(csv_path: str, root: str, frames: int = 27030) -> int:
    """``root/<video>`` for every video of ``csv_path``: a link to one
    folder of ``frames`` copies of one small JPEG (64x48), as many frames as
    an AVA video's 15 minutes at 30 fps (keyframes 902..1798 read frames up
    to about 27,000).

    Args:
        csv_path (str): The AVA csv whose videos get a folder.
        root (str): A folder that does not exist yet.
        frames (int): Frame files in the shared folder. Defaults to 27030.

    Returns:
        int: The videos linked.
    """
    import cv2
    import numpy as np
    one = osp.join(root, '_frames')
    os.makedirs(one)
    ok, jpeg = cv2.imencode(
        '.jpg',
        np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8))
    for i in range(1, frames + 1):
        with open(osp.join(one, f'img_{i:05d}.jpg'), 'wb') as f:
            f.write(jpeg.tobytes())
    with open(csv_path) as f:
        videos = {line.split(',', 1)[0] for line in f}
    for video in videos:
        os.symlink(one, osp.join(root, video))
    return len(videos)


def measure_pipeline(csv_path: str,
                     frame_root: str,
                     samples: int = 1000,
                     mmaction2: bool = False) -> dict:
    """The training data pipeline of the AVA v2.2 configs
    (``configs/_base_/datasets/ava22.py``'s ``train_pipeline``: 16 x 4
    frames, decode, short-side resize 256-320, flip, format, pack) on
    ``samples`` samples drawn at random from ``AVAActorDataset`` over
    ``csv_path`` (``frame_check='skip'``), one process, as one dataloader
    worker runs it.

    Args:
        csv_path (str): The AVA csv (:func:`write_ava_csv`).
        frame_root (str): :func:`write_frame_links`' folder.
        samples (int): Samples timed. Defaults to 1000.
        mmaction2 (bool): mmaction2's ``AVADataset`` and ``RawFrameDecode``
            instead (the reference). Defaults to False.

    Returns:
        dict: ``dataset`` (samples), ``build_seconds``, ``ms_per_sample``,
        ``pass_seconds`` (``ms_per_sample`` times the samples: one pass of
        one worker) and ``peak_above_import_mib`` (the build and the
        samples).
    """
    import numpy as np
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import stmixer_mm  # noqa: F401
    from stmixer_mm.datasets import AVAActorDataset
    init_default_scope('stmixer_mm')
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(
        osp.join(repo, 'configs', '_base_', 'datasets', 'ava22.py'))
    from mmaction.datasets import AVADataset
    pipeline = [
        dict(t, type='mmaction.RawFrameDecode')
        if mmaction2 and t['type'] == 'CheckedRawFrameDecode' else t
        for t in cfg.train_pipeline
    ]
    base, peak_of = _peak_meter()
    start = time.perf_counter()
    ds = (AVADataset if mmaction2 else AVAActorDataset)(
        ann_file=csv_path,
        pipeline=pipeline,
        data_prefix=dict(img=frame_root),
        **({} if mmaction2 else dict(frame_check='skip')),
        fps=cfg.fps,
        timestamp_start=cfg.timestamp_start,
        timestamp_end=cfg.timestamp_end)
    built = time.perf_counter()
    for i in np.random.default_rng(0).integers(0, len(ds), samples):
        ds[int(i)]
    per_sample = (time.perf_counter() - built) / samples
    return dict(
        dataset=len(ds),
        build_seconds=round(built - start, 2),
        ms_per_sample=round(1000 * per_sample, 2),
        pass_seconds=round(per_sample * len(ds), 1),
        peak_above_import_mib=round((peak_of() - base) / 1024, 1))


#: the test sets of the tube metrics' scale runs (``--tube-metrics``):
#: videos at full size, frames per video, classes, persons per video and
#: detection boxes per frame (UCF101-24's 910 test videos give about 1.6 M
#: (frame, class) rows; MultiSports' 560 of several hundred frames and
#: many persons)
TUBE_SETS = dict(
    ucf_jhmdb=dict(
        videos=910, frames=(100, 260), classes=24, persons=1, boxes=3),
    multisports=dict(
        videos=560, frames=(300, 700), classes=66, persons=3, boxes=5))


def tube_set(protocol: str, fraction: float, seed: int = 0, lazy=False):
    """Synthetic ground truth and per-frame predictions of ``fraction`` of a
    :data:`TUBE_SETS` test set.

    Every person of a video has one tube of the video's class over a random
    middle part of it; each frame has ``boxes`` predicted boxes (the first
    near a person's box where one is, scoring its class high) with a score
    per class (``u ** 8``: about 10 rows a frame above ``score_thr`` 0.3).
    Each video draws from its own generator (``seed``, video), so that the
    predictions can be made one at a time after the ground truth.

    Args:
        protocol (str): A key of :data:`TUBE_SETS`.
        fraction (float): Of the full test set's videos.
        seed (int): The random seed. Defaults to 0.
        lazy (bool): Give the samples as a generator (made while they are
            consumed) instead of a list. Defaults to False.

    Returns:
        tuple[dict, list[dict] | Iterator[dict]]: The ACT ground truth and
        the samples of ``TubeMetric.process``.
    """
    import numpy as np
    spec = TUBE_SETS[protocol]
    num_classes, w, h = spec['classes'], 320, 240
    labels = [f'c{i:02d}' for i in range(num_classes)]
    gt = dict(
        labels=labels,
        nframes={},
        gttubes={},
        resolution={},
        train_videos=[[]],
        test_videos=[[]])
    for v in range(max(2, round(spec['videos'] * fraction))):
        rng = np.random.default_rng([seed, v])
        name, label = f'{labels[v % num_classes]}/v{v:04d}', v % num_classes
        n = int(rng.integers(*spec['frames']))
        gt['nframes'][name], gt['resolution'][name] = n, (h, w)
        gt['test_videos'][0].append(name)
        tubes = []
        for _ in range(spec['persons']):
            first = int(rng.integers(1, n // 3))
            frames = np.arange(first, int(rng.integers(2 * n // 3, n + 1)))
            xy = rng.uniform([20, 20], [200, 60]) + np.cumsum(
                rng.normal(0, 1, (len(frames), 2)), 0)
            tubes.append(
                np.column_stack([frames, xy,
                                 xy + [80, 150]]).astype(np.float32))
        gt['gttubes'][name] = {label: tubes}

    def samples():
        for v, name in enumerate(gt['test_videos'][0]):
            rng = np.random.default_rng([seed, v, 1])
            (label, tubes), = gt['gttubes'][name].items()
            boxes_at = {}
            for row in (r for tube in tubes for r in tube):
                boxes_at.setdefault(int(row[0]), []).append(row[1:5])
            for f in range(1, gt['nframes'][name] + 1):
                xy = rng.uniform(0, 0.5, (spec['boxes'], 2))
                boxes = np.concatenate(
                    [xy, xy + rng.uniform(0.2, 0.5, xy.shape)], 1)
                scores = rng.random((spec['boxes'], num_classes))**8
                for j, box in enumerate(boxes_at.get(f, [])[:spec['boxes']]):
                    boxes[j] = (box + rng.normal(0, 3, 4)) / [w, h, w, h]
                    scores[j, label] = 0.5 + 0.5 * rng.random()
                yield dict(
                    video_id=name,
                    timestamp=f,
                    pred_instances=dict(  # clipped as the models clip
                        bboxes=np.clip(boxes, 0, 1).astype(np.float32),
                        scores=scores.astype(np.float32)))

    return gt, (samples() if lazy else list(samples()))


def measure_metric(what: str, fraction: float) -> dict:
    """One evaluation at scale in this process (call in a fresh one).

    Args:
        what (str): ``'ucf_jhmdb'`` or ``'multisports'`` (``TubeMetric``
            over :func:`tube_set`), ``'ava_compact'`` (the project's
            ``CompactAVAMetric`` on the same set as ``'ava'``) or ``'ava'``
            (mmaction2's
            ``AVAMetric`` over :func:`write_ava_csv` of the validation
            csv's size, :data:`AVA_VAL_ROWS`, each keyframe's persons and
            two false boxes predicted, 81 class scores ``u ** 6``).
        fraction (float): Of the full size.

    Returns:
        dict: ``seconds`` and ``peak_above_held_mib`` of
        ``compute_metrics``, ``held_mib`` (the processed predictions the
        metric keeps), ``detections`` and the metrics.
    """
    import pickle

    import numpy as np
    import torch
    from mmaction.registry import METRICS

    import stmixer_mm  # noqa: F401
    tmp = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, tmp, True)  # a fresh process: its end
    if what in ('ava', 'ava_compact'):
        gt_csv = osp.join(tmp, 'val.csv')
        write_ava_csv(gt_csv, int(AVA_VAL_ROWS * fraction))
        labels = osp.join(tmp, 'labels.pbtxt')
        with open(labels, 'w') as f:
            f.writelines(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n'
                         for i in range(1, 81))
        persons = {}
        with open(gt_csv) as f:
            for line in f:
                v, ts, *box, _, pid = line.split(',')
                persons.setdefault((v, int(ts)), {})[pid] = box

        def ava_samples(rng=np.random.default_rng(0)):
            for (v, ts), boxes in persons.items():
                b = np.array([list(map(float, x)) for x in boxes.values()] +
                             [[.1, .1, .5, .6], [.4, .3, .9, .9]], np.float32)
                sc = rng.random((len(b), 81)).astype(np.float32)**6
                sc[:, 0] = 0
                yield dict(
                    video_id=v,
                    timestamp=ts,
                    pred_instances=dict(bboxes=b, scores=sc))

        samples = ava_samples()
        metric = METRICS.build(
            dict(
                type='AVAMetric' if what == 'ava' else 'CompactAVAMetric',
                ann_file=gt_csv,
                exclude_file=None,
                label_file=labels,
                num_classes=81))
        os.chdir(tmp)  # AVAMetric writes its csv to the working folder
    else:
        gt, samples = tube_set(what, fraction, lazy=True)
        ann = osp.join(tmp, 'gt.pkl')
        with open(ann, 'wb') as f:
            pickle.dump(gt, f)
        metric = METRICS.build(
            dict(
                type='TubeMetric', ann_file=ann, protocol=what, score_thr=0.3))
    # the predictions arrive one at a time, as from a test loop: what the
    # metric keeps is what the RSS grows by
    rss0 = _status_kib('VmRSS')
    detections = 0
    for s in samples:
        p = s['pred_instances']
        p.update(
            bboxes=torch.from_numpy(p['bboxes']),
            scores=torch.from_numpy(p['scores']))
        metric.process(None, [s])
        detections += len(p['bboxes'])
    held = (_status_kib('VmRSS') - rss0) / 1024
    base, peak_of = _peak_meter()
    start = time.perf_counter()
    metrics = metric.compute_metrics(metric.results)
    return dict(
        seconds=round(time.perf_counter() - start, 1),
        peak_above_held_mib=round((peak_of() - base) / 1024, 1),
        held_mib=round(held, 1),
        detections=detections,
        metrics={
            k: round(float(v), 4)
            for k, v in metrics.items()
        })


#: the MOC-Detector commit whose evaluation ``--moc-dir`` was written for
MOC_COMMIT = '45c3fd0c5e4ca455e7e739f3ad80b2c91813df35'
#: MOC's ground-truth pickle of UCF101-24 under ``opt.root_dir``
#: (``src/datasets/dataset/ucf101.py``)
MOC_GT = osp.join('data', 'ucf24', 'UCF101v2-GT.pkl')


def write_moc_set(fraction: float, root: str, score_thr: float = .3) -> dict:
    """:func:`tube_set` (``'ucf_jhmdb'``) in MOC-Detector's formats under
    ``root``, for :func:`measure_moc`.

    ``root/data/ucf24/UCF101v2-GT.pkl``: the ground truth pickle as given
    (``labels``, ``nframes``, ``gttubes``, ``resolution``,
    ``train_videos``, ``test_videos``). ``root/inference/<video>/
    <frame:05d>.pkl`` for every frame 1..nframes of every test video: what
    MOC's detector writes with ``K=1`` (``src/detector/normal_moc_det.py``,
    ``post_process``), ``{label + 1: float32 [n, 4K + 1] = x1 y1 x2 y2
    score}`` with a key for every class (empty ``(0, 5)`` arrays too;
    ``BuildTubes`` reads each). The rows are those ``TubeMetric(protocol=
    'ucf_jhmdb', score_mode='per_class', score_thr=score_thr)`` keeps: per
    box and class a row where the class's score is above ``score_thr``,
    boxes in pixels as ``float32(normalised box x (w, h, w, h))`` of the
    video's ``resolution``, the boxes in the model's order.

    Args:
        fraction (float): Of the full test set's videos.
        root (str): An empty folder.
        score_thr (float): ``TubeMetric``'s ``score_thr``. Defaults to 0.3.

    Returns:
        dict: ``videos``, ``frames`` (files written) and ``rows`` (frame
        detections over all classes).
    """
    import pickle

    import numpy as np
    gt, samples = tube_set('ucf_jhmdb', fraction, lazy=True)
    os.makedirs(osp.dirname(osp.join(root, MOC_GT)))
    with open(osp.join(root, MOC_GT), 'wb') as f:
        pickle.dump(gt, f)
    num_classes, rows, frames = len(gt['labels']), 0, 0
    for s in samples:
        h, w = gt['resolution'][s['video_id']]
        pred = s['pred_instances']
        scores = pred['scores']
        # the arithmetic of TubeMetric._per_class
        boxes = (pred['bboxes'].astype(np.float64) *
                 np.array([w, h, w, h])).astype(np.float32)
        dets = {}
        for c in range(num_classes):
            keep = scores[:, c] > score_thr
            dets[c + 1] = np.empty((int(keep.sum()), 5), np.float32)
            dets[c + 1][:, :4] = boxes[keep]
            dets[c + 1][:, 4] = scores[keep, c]
            rows += len(dets[c + 1])
        folder = osp.join(root, 'inference', s['video_id'])
        os.makedirs(folder, exist_ok=True)
        with open(osp.join(folder, f'{s["timestamp"]:05d}.pkl'), 'wb') as f:
            pickle.dump(dets, f)
        frames += 1
    return dict(videos=len(gt['test_videos'][0]), frames=frames, rows=rows)


def _int_numpy1(x):
    """``int()`` as numpy 1 gives it to the reference codes (MOC: Python
    3.5, numpy unpinned): their ``iou3dt`` / ``iou3dt_voc`` take
    ``int(np.where(...)[0])`` of a one-element array, which numpy 2.4
    refuses; other sizes stay a TypeError, as in numpy 1."""
    import numpy as np
    if isinstance(x, np.ndarray) and x.size == 1:
        return int(x.item())
    return int(x)


def _import_moc(moc_dir: str) -> tuple:
    """MOC-Detector's ``BuildTubes``, ``frameAP`` and ``videoAP`` from
    ``moc_dir`` (a checkout or its ``src/``), imported in this process
    without editing its files: stand-ins for what they import but the
    evaluation does not need, and one numpy 2 shim."""
    import types

    # imported here, before the meter starts (it imports the package)
    from stmixer_mm.utils.checkpoint_loading import load_pickle
    src = osp.join(moc_dir, 'src')
    sys.path.insert(0, src if osp.isfile(osp.join(src, 'ACT.py')) else moc_dir)

    class Dataset:
        """What ``frameAP`` / ``videoAP`` / ``BuildTubes`` read of MOC's
        data set: ``BaseDataset.__init__``'s load of the GT pickle (the
        real class imports torch and cv2 and builds the training index,
        which the evaluation does not read)."""

        def __init__(self, opt, mode):
            # MOC's encoding='iso-8859-1' is the loader's latin1
            pkl = load_pickle(osp.join(opt.root_dir, MOC_GT))
            for k in pkl:
                setattr(self, ('_' if k != 'labels' else '') + k, pkl[k])

    init = types.ModuleType('datasets.init_dataset')
    init.get_dataset = lambda name: Dataset
    sys.modules['datasets'] = types.ModuleType('datasets')
    sys.modules['datasets.init_dataset'] = init
    try:
        import progress.bar  # noqa: F401
    except ImportError:  # MOC's progress bar, not installed here
        bar = types.ModuleType('progress.bar')
        bar.Bar = type(
            'Bar', (),
            dict(
                __init__=lambda self, *a, **k: None,
                next=lambda self: None,
                finish=lambda self: None,
                elapsed_td=None,
                eta_td=None))
        sys.modules['progress'] = types.ModuleType('progress')
        sys.modules['progress.bar'] = bar
    import ACT_utils.ACT_utils as moc_utils
    from ACT import frameAP, videoAP
    from ACT_utils.ACT_build import BuildTubes

    moc_utils.int = _int_numpy1  # only ACT_utils.py's int() sees it
    return BuildTubes, frameAP, videoAP


def measure_moc(root: str, moc_dir: str) -> dict:
    """MOC-Detector's own evaluation of :func:`write_moc_set`'s files in
    this process (call in a fresh one): ``BuildTubes``, ``frameAP`` at 0.5,
    ``videoAP`` at 0.2, 0.5, 0.75 and the mean over 0.5:0.05:0.95 (the
    loop of ``videpAP_050_095``, which prints its mean with two decimals
    instead of returning it), ``opt`` as ``ACT.py``'s command line gives
    it (``--dataset ucf101 --split 1 --K 1 --redo``).

    Args:
        root (str): :func:`write_moc_set`'s folder.
        moc_dir (str): A MOC-Detector checkout or its ``src/``.

    Returns:
        dict: ``seconds`` (all of it; per step in ``steps``: MOC reads the
        per-frame files in ``BuildTubes`` and again in ``frameAP``, the
        tubes in each ``videoAP``) and ``peak_above_start_mib`` (VmHWM
        reset after the imports), ``moc_commit`` (if ``moc_dir`` is a git
        checkout) and the metrics named as ``TubeMetric`` names them.
    """
    import contextlib
    import types
    BuildTubes, frameAP, videoAP = _import_moc(moc_dir)
    opt = types.SimpleNamespace(
        dataset='ucf101',
        split=1,
        K=1,
        redo=True,
        th=.5,
        inference_dir=osp.join(root, 'inference'),
        root_dir=root,
        model_name='None',
        exp_id='default')
    checkout = moc_dir if osp.isfile(osp.join(
        moc_dir, 'src', 'ACT.py')) else osp.dirname(osp.abspath(moc_dir))
    out = dict(moc_commit=_commit(checkout))
    steps, metrics = {}, {}
    peak = _peak_meter()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # MOC's prints
        BuildTubes(opt)
        steps['BuildTubes'] = time.perf_counter() - start
        metrics['frameAP@0.5'] = frameAP(opt, print_info=False)
        steps['frameAP'] = time.perf_counter() - start - sum(steps.values())
        for th in (.2, .5, .75):
            opt.th = th
            metrics[f'videoAP@{th}'] = videoAP(opt, print_info=False)
        ap = 0
        for i in range(10):  # videpAP_050_095
            opt.th = 0.5 + 0.05 * i
            ap += videoAP(opt, print_info=False)
        metrics['videoAP@0.5:0.95'] = ap / 10.0
        steps['videoAP x13'] = time.perf_counter() - start - sum(
            steps.values())
    out.update(_reference_record(start, steps, peak, metrics))
    return out


#: the MCG-NJU/MultiSports commit whose ``evaluate_multisports.py``
#: ``--multisports-dir`` was written for
MULTISPORTS_COMMIT = 'a29e291c6000d0491eef539b346dc59e1a402eda'


def write_multisports_set(fraction: float,
                          root: str,
                          score_thr: float = .3) -> dict:
    """:func:`tube_set` (``'multisports'``) in the official MultiSports
    formats under ``root``, for :func:`measure_multisports`.

    ``root/gt.pkl``: the ground truth as given. ``root/frame_dets.pkl``: the
    array the official ``frameAP`` and mmaction2's ``link_tubes`` read,
    float64 ``[N, 8]`` rows ``video index, frame, label, score, x1, y1, x2,
    y2`` in video, frame, box, class order; the rows are those
    ``TubeMetric(protocol='multisports', score_mode='per_class',
    score_thr=score_thr)`` keeps (boxes in pixels as
    ``float32(normalised box x (w, h, w, h))``, float32 scores).

    Args:
        fraction (float): Of the full test set's videos.
        root (str): An empty folder.
        score_thr (float): ``TubeMetric``'s ``score_thr``. Defaults to 0.3.

    Returns:
        dict: ``videos`` and ``rows`` (frame detections over all classes).
    """
    import pickle

    import numpy as np
    gt, samples = tube_set('multisports', fraction, lazy=True)
    index = {v: i for i, v in enumerate(gt['test_videos'][0])}
    with open(osp.join(root, 'gt.pkl'), 'wb') as f:
        pickle.dump(gt, f)
    parts = []
    for s in samples:
        h, w = gt['resolution'][s['video_id']]
        pred = s['pred_instances']
        # the arithmetic of TubeMetric._per_class
        boxes = (pred['bboxes'].astype(np.float64) *
                 np.array([w, h, w, h])).astype(np.float32)
        box, label = np.nonzero(pred['scores'] > score_thr)
        rows = np.empty((len(box), 8))
        rows[:, 0], rows[:, 1] = index[s['video_id']], s['timestamp']
        rows[:, 2], rows[:, 3] = label, pred['scores'][box, label]
        rows[:, 4:] = boxes[box]
        parts.append(rows)
    dets = np.concatenate(parts)
    with open(osp.join(root, 'frame_dets.pkl'), 'wb') as f:
        pickle.dump(dets, f)
    return dict(videos=len(index), rows=len(dets))


def _import_multisports(ms_dir: str):
    """The official ``evaluate_multisports.py`` of ``ms_dir`` and mmaction2's
    ``link_tubes``, imported without editing either file: their pickle
    reads go through the project's restricted loader, their ``int()`` of
    one-element arrays (``iou3dt_voc``; a TypeError under numpy 2.4) gets
    numpy 1's meaning, and mmaction2's ``Dataset.get_vid_dets`` gives each
    box its own score (the stale ``frm_det`` of mmaction2's loop, which
    gives every box the last row's score, is the one deliberate difference
    of the protocol, docs/en/tube_protocols.md)."""
    import types
    from collections import defaultdict

    import numpy as np
    from mmaction.evaluation.functional import multisports_utils

    from stmixer_mm.utils.checkpoint_loading import load_pickle
    sys.path.insert(0, ms_dir)
    import evaluate_multisports as official

    def load(f):
        f.close()
        return load_pickle(f.name, encoding='ASCII')

    official.pickle = types.SimpleNamespace(load=load)
    official.int = _int_numpy1

    def get_vid_dets(self):
        # mmaction2's loop, with each row's own score (row[3])
        by_video = defaultdict(list)
        for row in self.frm_alldets:
            by_video[self.video_list[int(row[0])]].append(row)
        self.vid_det = {}
        for name, rows in by_video.items():
            self.vid_det[name] = {
                f: {
                    c: np.empty((0, 5))
                    for c in range(len(self.labels))
                }
                for f in range(1, self.nframes[name] + 1)
            }
            for row in rows:
                cell = self.vid_det[name][int(row[1])]
                cell[int(row[2])] = np.concatenate([
                    cell[int(row[2])],
                    np.array([*row[-4:], row[3]])[None, :]
                ])
        return self.vid_det

    multisports_utils.Dataset.get_vid_dets = get_vid_dets
    return official, multisports_utils.link_tubes


def measure_multisports(root: str, ms_dir: str) -> dict:
    """The official MultiSports evaluation of :func:`write_multisports_set`'s
    files in this process (call in a fresh one): ``frameAP`` at 0.5,
    mmaction2's ``link_tubes`` (``K=1``, ``len_thre=15``; the official
    repository has no linking code), the tubes written as the official
    ``videoAP`` reads them, ``videoAP`` at 0.2, 0.5, 0.75 and the three
    ranges of ``videoAP_all`` (its loops; it prints its means instead of
    returning them), each call reading its pickles as the script does.

    Args:
        root (str): :func:`write_multisports_set`'s folder.
        ms_dir (str): A checkout of MCG-NJU/MultiSports.

    Returns:
        dict: ``seconds`` (per step in ``steps``), ``peak_above_start_mib``
        (VmHWM reset after the imports), ``multisports_commit`` (if a git
        checkout) and the metrics named as ``TubeMetric`` names them.
    """
    import contextlib
    import pickle

    from stmixer_mm.utils.checkpoint_loading import load_pickle
    official, link_tubes = _import_multisports(ms_dir)
    gt_pkl, dets_pkl = (
        osp.join(root, n) for n in ('gt.pkl', 'frame_dets.pkl'))
    tubes_pkl = osp.join(root, 'video_dets.pkl')
    steps, metrics = {}, {}
    peak = _peak_meter()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # their prints
        metrics['frameAP@0.5'] = official.frameAP(
            gt_pkl, dets_pkl, 0.5, print_info=False)
        steps['frameAP'] = time.perf_counter() - start
        tubes = link_tubes(
            load_pickle(gt_pkl, encoding='ASCII'),
            load_pickle(dets_pkl, encoding='ASCII'),
            K=1,
            len_thre=15)
        with open(tubes_pkl, 'wb') as f:
            pickle.dump(tubes, f)
        del tubes
        steps['link_tubes'] = time.perf_counter() - start - sum(steps.values())

        def video_map(thr):
            return official.videoAP(gt_pkl, tubes_pkl, thr, print_info=False)

        for thr in (.2, .5, .75):
            metrics[f'videoAP@{thr}'] = video_map(thr)
        for name, thrs in (('0.5:0.95', [0.5 + 0.05 * i for i in range(10)]),
                           ('0.05:0.45', [0.05 + 0.05 * i for i in range(9)]),
                           ('0.1:0.9', [0.1 + 0.1 * i for i in range(9)])):
            ap = 0
            for thr in thrs:  # videoAP_all's loops
                ap += video_map(thr)
            metrics[f'videoAP@{name}'] = ap / float(len(thrs))
        steps['videoAP x31'] = time.perf_counter() - start - sum(
            steps.values())
    return dict(
        multisports_commit=_commit(ms_dir),
        **_reference_record(start, steps, peak, metrics))


def run_fresh(*args, func: str = '') -> dict:
    """:func:`measure` (or ``func``) in a fresh Python process; a failure
    raises RuntimeError with the last line of its stderr."""
    func = func or ('measure_metric' if args[0] in ('ava', 'ava_compact',
                                                    *TUBE_SETS) else 'measure')
    code = ('import json, sys; sys.path.insert(0, %r); '
            'from benchmark_dataset_scale import %s; '
            'print(json.dumps(%s(*%r)))') % (osp.dirname(
                osp.abspath(__file__)), func, func, args)
    run = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True)
    if run.returncode:
        raise RuntimeError(f'{func}{args}: ' +
                           (run.stderr.strip().splitlines()
                            or ['exit %d' % run.returncode])[-1])
    return json.loads(run.stdout.strip().splitlines()[-1])


def run_metric(what: str,
               fraction: float,
               moc_dir: str = '',
               multisports_dir: str = '') -> List[dict]:
    """Print and return the JSON line of :func:`measure_metric` (and of the
    reference on the same set: :func:`measure_moc` for ``'ucf_jhmdb'`` with
    ``moc_dir``, :func:`measure_multisports` for ``'multisports'`` with
    ``multisports_dir``), each in a fresh process; a failed run prints its
    error."""
    runs, lines = [(what, lambda: run_fresh(what, fraction))], []
    ref = dict(
        ucf_jhmdb=(moc_dir, 'write_moc_set', 'measure_moc'),
        multisports=(multisports_dir, 'write_multisports_set',
                     'measure_multisports')).get(what)
    if ref and ref[0]:

        def reference():
            with tempfile.TemporaryDirectory() as root:
                out = run_fresh(fraction, root, func=ref[1])
                out.update(run_fresh(root, ref[0], func=ref[2]))
            return out

        runs.append((f'{what}_{"moc" if what == "ucf_jhmdb" else "official"}',
                     reference))
    for name, run in runs:
        try:
            out = run()
        except RuntimeError as e:
            out = dict(error=str(e))
        lines.append(dict(metric=name, fraction=fraction, **out))
        print(json.dumps(lines[-1]), flush=True)
    return lines


def growth_table(lines: List[dict]) -> str:
    """Per metric, the growth exponents of the run's seconds and memory
    over the fractions: the slope of log(value) on log(fraction), least
    squares (1: linear in the data set's size)."""
    import numpy as np
    out = [
        '| metric | fractions | seconds | memory (MiB) | exponent: '
        'seconds | memory |', '| --- | --- | --- | --- | --- | --- |'
    ]
    for name in dict.fromkeys(line['metric'] for line in lines):
        ok = [x for x in lines if x['metric'] == name and 'seconds' in x]
        mem = [
            x.get('peak_above_start_mib',
                  x.get('held_mib', 0) + x.get('peak_above_held_mib', 0))
            for x in ok
        ]
        exps = ['-', '-']
        if len(ok) > 1:
            logf = np.log([x['fraction'] for x in ok])
            exps = [
                f'{np.polyfit(logf, np.log(np.maximum(v, 1e-3)), 1)[0]:.2f}'
                for v in ([x['seconds'] for x in ok], mem)
            ]
        out.append(f'| {name} | ' + ' / '.join(f'{x["fraction"]:g}'
                                               for x in ok) + ' | ' +
                   ' / '.join(f'{x["seconds"]:g}' for x in ok) + ' | ' +
                   ' / '.join(f'{m:.0f}'
                              for m in mem) + f' | {exps[0]} | {exps[1]} |')
    return '\n'.join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--doctor', action='store_true')
    parser.add_argument('--frames', action='store_true')
    parser.add_argument(
        '--pipeline',
        action='store_true',
        help='the AVA v2.2 training pipeline on samples of a --fraction of '
        'the training csv (frames: links to one folder of small JPEGs)')
    parser.add_argument(
        '--metrics',
        nargs='+',
        choices=['ucf_jhmdb', 'multisports', 'ava', 'ava_compact'],
        help='the evaluation at each --fraction (of the test / validation '
        'set): TubeMetric per protocol, mmaction2\'s AVAMetric, the '
        'project\'s CompactAVAMetric')
    parser.add_argument('--fraction', type=float, nargs='+', default=[.125])
    parser.add_argument(
        '--moc-dir',
        default='',
        help='with --metrics ucf_jhmdb: also MOC-Detector\'s own evaluation '
        '(a checkout of github.com/MCG-NJU/MOC-Detector or its src/, '
        'supplied by you) on the same set')
    parser.add_argument(
        '--multisports-dir',
        default='',
        help='with --metrics multisports: also the official '
        'evaluate_multisports.py (a checkout of '
        'github.com/MCG-NJU/MultiSports, supplied by you) on mmaction2\'s '
        'link_tubes, on the same set')
    parser.add_argument('--videos', type=int, default=4)
    parser.add_argument('--frames-per-video', type=int, default=27000)
    args = parser.parse_args()
    if min(args.fraction) <= 0:
        parser.error(f'--fraction must be > 0 (of the full size), got '
                     f'{min(args.fraction)}')
    moc_dir = osp.abspath(args.moc_dir) if args.moc_dir else ''
    if moc_dir and 'ucf_jhmdb' not in (args.metrics or []):
        parser.error('--moc-dir needs --metrics ucf_jhmdb')
    if moc_dir and not any(
            osp.isfile(osp.join(moc_dir, *sub, 'ACT.py'))
            for sub in ((), ('src', ))):
        parser.error(f'--moc-dir {args.moc_dir}: no ACT.py in it or in its '
                     'src/ (a MOC-Detector checkout: git clone '
                     'https://github.com/MCG-NJU/MOC-Detector)')
    ms_dir = osp.abspath(args.multisports_dir) if args.multisports_dir else ''
    if ms_dir and not osp.isfile(osp.join(ms_dir, 'evaluate_multisports.py')):
        parser.error(f'--multisports-dir {args.multisports_dir}: no '
                     'evaluate_multisports.py in it (a checkout of '
                     'https://github.com/MCG-NJU/MultiSports)')
    if ms_dir and 'multisports' not in (args.metrics or []):
        parser.error('--multisports-dir needs --metrics multisports')
    lines = [
        line for what in args.metrics or [] for fraction in args.fraction
        for line in run_metric(what, fraction, moc_dir, ms_dir)
    ]
    if lines:  # memory: the held predictions + the evaluation's peak
        print(growth_table(lines))
    with tempfile.TemporaryDirectory() as tmp:
        if args.doctor:
            for fraction in args.fraction:
                path = osp.join(tmp, f'ava_{fraction}.csv')
                rows = write_ava_csv(path, int(AVA_ROWS * fraction))
                size = os.path.getsize(path) / 2**20
                print(
                    json.dumps(
                        dict(
                            fraction=fraction,
                            rows=rows,
                            csv_mib=round(size, 1),
                            doctor=run_fresh('doctor', path),
                            dataset=run_fresh('dataset', path),
                            mmaction2=run_fresh('mmaction2', path))))
        if args.pipeline:
            for fraction in args.fraction:
                path = osp.join(tmp, f'pipeline_{fraction}.csv')
                write_ava_csv(path, int(AVA_ROWS * fraction))
                root = osp.join(tmp, f'frames_{fraction}')
                videos = write_frame_links(path, root)
                print(
                    json.dumps(
                        dict(
                            fraction=fraction,
                            videos=videos,
                            pipeline=run_fresh(
                                path, root, func='measure_pipeline'),
                            mmaction2=run_fresh(
                                path,
                                root,
                                1000,
                                True,
                                func='measure_pipeline'))),
                    flush=True)
        if args.frames:
            root = osp.join(tmp, 'rawframes')
            path = osp.join(tmp, 'frames.csv')
            with open(path, 'w') as f:
                for v in range(args.videos):
                    os.makedirs(osp.join(root, f'v{v}'))
                    for i in range(1, args.frames_per_video + 1):
                        open(osp.join(root, f'v{v}', f'img_{i:05}.jpg'),
                             'w').close()
                    for ts in range(902,
                                    902 + args.frames_per_video // 30 - 2):
                        f.write(f'v{v},{ts},0.1,0.1,0.5,0.5,1,0\n')
            res = dict(mmaction2=run_fresh('mmaction2', path, root))
            res['scan'] = run_fresh('dataset', path, root, 'scan')
            res['skip'] = run_fresh('dataset', path, root, 'skip')
            res['no_frames'] = run_fresh('dataset', path)
            print(
                json.dumps(
                    dict(
                        videos=args.videos,
                        frames=args.frames_per_video,
                        **res)))


if __name__ == '__main__':
    main()
