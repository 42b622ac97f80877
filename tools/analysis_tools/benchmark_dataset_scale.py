"""Data set start and the doctor at scale (issue 75, items 3 and 5).

``--doctor``: the doctor's AVA checks (``check_ava_split``, no frame folder)
and the build of ``ValidatedAVADataset`` on a synthetic AVA v2.2-sized csv
(``--fraction`` of its 1.26 M rows), each in a fresh process: seconds, peak
RSS above the import (VmHWM reset once imported) and a digest of the
doctor's findings. ``--frames``: the frame check of ``use_frames=True``
(``--videos`` folders of ``--frames-per-video`` empty frame files), the
data set's build against mmaction2's ``AVADataset``, ``frame_check`` scan
and skip. ``PYTHONPATH`` picks the ``stmixer_mm`` to measure.

Example::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --doctor --fraction 0.125 0.25
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --frames --videos 4 --frames-per-video 27000
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import random
import resource
import subprocess
import sys
import tempfile
import time

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


def measure(what: str,
            csv_path: str,
            frame_root: str = '',
            frame_check: str = 'scan') -> dict:
    """One measurement in this process (call in a fresh one).

    Args:
        what (str): ``'doctor'``, ``'dataset'`` (``ValidatedAVADataset``) or
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
    from stmixer_mm.datasets import ValidatedAVADataset
    from stmixer_mm.datasets.dataset_checks.ava import check_ava_split
    from stmixer_mm.datasets.dataset_checks.report import DatasetReport
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
        cls = AVADataset if what == 'mmaction2' else ValidatedAVADataset
        extra = dict(frame_check=frame_check) if (
            what == 'dataset'
            and 'frame_check' in ValidatedAVADataset.SETTINGS) else {}
        out['samples'] = len(cls(**ds, **extra))
    out['seconds'] = round(time.perf_counter() - start, 2)
    out['peak_above_import_mib'] = round((peak_of() - base) / 1024, 1)
    return out


#: the test sets of the tube metrics' scale runs (``--tube-metrics``):
#: videos at full size, frames per video, classes, persons per video and
#: detection boxes per frame (UCF101-24's 910 test videos give about 1.6 M
#: (frame, class) rows; MultiSports' 560 of several hundred frames and
#: many persons)
TUBE_SETS = dict(
    ucf_jhmdb=dict(videos=910, frames=(100, 260), classes=24, persons=1,
                   boxes=3),
    multisports=dict(videos=560, frames=(300, 700), classes=66, persons=3,
                     boxes=5))


def tube_set(protocol: str, fraction: float, seed: int = 0):
    """Synthetic ground truth and per-frame predictions of ``fraction`` of a
    :data:`TUBE_SETS` test set.

    Every person of a video has one tube of the video's class over a random
    middle part of it; each frame has ``boxes`` predicted boxes (the first
    near a person's box where one is, scoring its class high) with a score
    per class (``u ** 8``: about 10 rows a frame above ``score_thr`` 0.3).

    Args:
        protocol (str): A key of :data:`TUBE_SETS`.
        fraction (float): Of the full test set's videos.
        seed (int): The random seed. Defaults to 0.

    Returns:
        tuple[dict, list[dict]]: The ACT ground truth and the samples of
        ``TubeMetric.process``.
    """
    import numpy as np
    spec = TUBE_SETS[protocol]
    rng = np.random.default_rng(seed)
    num_classes, w, h = spec['classes'], 320, 240
    labels = [f'c{i:02d}' for i in range(num_classes)]
    gt = dict(labels=labels, nframes={}, gttubes={}, resolution={},
              train_videos=[[]], test_videos=[[]])
    samples = []
    for v in range(max(2, round(spec['videos'] * fraction))):
        name, label = f'{labels[v % num_classes]}/v{v:04d}', v % num_classes
        n = int(rng.integers(*spec['frames']))
        gt['nframes'][name], gt['resolution'][name] = n, (h, w)
        gt['test_videos'][0].append(name)
        tubes, boxes_at = [], {}
        for _ in range(spec['persons']):
            first = int(rng.integers(1, n // 3))
            frames = np.arange(first, int(rng.integers(2 * n // 3, n + 1)))
            xy = rng.uniform([20, 20], [200, 60]) + np.cumsum(
                rng.normal(0, 1, (len(frames), 2)), 0)
            tube = np.column_stack([frames, xy, xy + [80, 150]])
            tubes.append(tube.astype(np.float32))
            for row in tube:
                boxes_at.setdefault(int(row[0]), []).append(row[1:5])
        gt['gttubes'][name] = {label: tubes}
        for f in range(1, n + 1):
            xy = rng.uniform(0, 0.5, (spec['boxes'], 2))
            boxes = np.concatenate(
                [xy, xy + rng.uniform(0.2, 0.5, xy.shape)], 1)
            scores = rng.random((spec['boxes'], num_classes)) ** 8
            for j, box in enumerate(boxes_at.get(f, [])[:spec['boxes']]):
                boxes[j] = (box + rng.normal(0, 3, 4)) / [w, h, w, h]
                scores[j, label] = 0.5 + 0.5 * rng.random()
            samples.append(
                dict(video_id=name, timestamp=f,
                     pred_instances=dict(
                         bboxes=boxes.astype(np.float32),
                         scores=scores.astype(np.float32))))
    return gt, samples


def measure_metric(what: str, fraction: float) -> dict:
    """One evaluation at scale in this process (call in a fresh one).

    Args:
        what (str): ``'ucf_jhmdb'`` or ``'multisports'`` (``TubeMetric``
            over :func:`tube_set`), or ``'ava'`` (mmaction2's
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

    import stmixer_mm  # noqa: F401
    from mmaction.registry import METRICS
    tmp = tempfile.mkdtemp()
    rss0 = _status_kib('VmRSS')
    if what == 'ava':
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
        rng = np.random.default_rng(0)
        samples = []
        for (v, ts), boxes in persons.items():
            b = np.array([list(map(float, x)) for x in boxes.values()] +
                         [[.1, .1, .5, .6], [.4, .3, .9, .9]], np.float32)
            sc = rng.random((len(b), 81)).astype(np.float32)**6
            sc[:, 0] = 0
            samples.append(dict(video_id=v, timestamp=ts,
                                pred_instances=dict(bboxes=b, scores=sc)))
        metric = METRICS.build(
            dict(type='AVAMetric', ann_file=gt_csv, exclude_file=None,
                 label_file=labels, num_classes=81))
        os.chdir(tmp)  # AVAMetric writes its csv to the working folder
    else:
        gt, samples = tube_set(what, fraction)
        ann = osp.join(tmp, 'gt.pkl')
        with open(ann, 'wb') as f:
            pickle.dump(gt, f)
        metric = METRICS.build(dict(type='TubeMetric', ann_file=ann,
                                    protocol=what, score_thr=0.3))
    import torch
    for s in samples:
        p = s['pred_instances']
        p.update(bboxes=torch.from_numpy(p['bboxes']),
                 scores=torch.from_numpy(p['scores']))
    metric.process(None, samples)
    detections = sum(len(s['pred_instances']['bboxes']) for s in samples)
    del samples
    import gc
    gc.collect()
    held = (_status_kib('VmRSS') - rss0) / 1024
    base, peak_of = _peak_meter()
    start = time.perf_counter()
    metrics = metric.compute_metrics(metric.results)
    return dict(
        seconds=round(time.perf_counter() - start, 1),
        peak_above_held_mib=round((peak_of() - base) / 1024, 1),
        held_mib=round(held, 1),
        detections=detections,
        metrics={k: round(float(v), 4) for k, v in metrics.items()})


def run_fresh(*args) -> dict:
    """:func:`measure` in a fresh Python process."""
    func = 'measure_metric' if args[0] in ('ava', *TUBE_SETS) else 'measure'
    code = ('import json, sys; sys.path.insert(0, %r); '
            'from benchmark_dataset_scale import %s; '
            'print(json.dumps(%s(*%r)))') % (osp.dirname(
                osp.abspath(__file__)), func, func, args)
    out = subprocess.run([sys.executable, '-c', code],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--doctor', action='store_true')
    parser.add_argument('--frames', action='store_true')
    parser.add_argument(
        '--metrics',
        nargs='+',
        choices=['ucf_jhmdb', 'multisports', 'ava'],
        help='the evaluation at each --fraction (of the test / validation '
        'set): TubeMetric per protocol, mmaction2\'s AVAMetric')
    parser.add_argument('--fraction', type=float, nargs='+', default=[.125])
    parser.add_argument('--videos', type=int, default=4)
    parser.add_argument('--frames-per-video', type=int, default=27000)
    args = parser.parse_args()
    for what in args.metrics or []:
        for fraction in args.fraction:
            print(json.dumps(dict(metric=what, fraction=fraction,
                                  **run_fresh(what, fraction))), flush=True)
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
                            dataset=run_fresh('dataset', path))))
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
