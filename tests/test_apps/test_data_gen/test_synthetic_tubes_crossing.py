"""The occlusion tube set (``motion='crossing'``): actors walk across each
other and out of the frame and come back."""
import json
import pickle

import numpy as np
import pytest
import torch

from stmixer_mm.apps.data_gen import synthetic_tubes as syn_tubes
from stmixer_mm.apps.data_gen.scene import MIN_VISIBLE, build_split
from stmixer_mm.apps.data_gen.settings import SyntheticAVASettings
from stmixer_mm.apps.data_gen.synthetic_tubes import (TUBE_CLASSES,
                                                      build_tube_annotations,
                                                      crossing_stats,
                                                      generate_synthetic_tubes,
                                                      tube_class)

W, H = 96, 64
TINY = dict(
    motion='crossing',
    num_train_videos=3,
    num_val_videos=3,
    width=W,
    height=H,
    write_demo=False)


def _settings(**kwargs) -> SyntheticAVASettings:
    kwargs = dict(syn_tubes.TUBE_CROSSING_DEFAULTS, **kwargs)
    kwargs.pop('write_demo', None)
    return SyntheticAVASettings(**kwargs)


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp('syn_crossing')
    paths = generate_synthetic_tubes(str(out), **TINY)
    with open(paths['tube_gt'], 'rb') as f:
        return paths, pickle.load(f)


@pytest.fixture(scope='module')
def videos():
    settings = _settings(**TINY)
    return {s: build_split(settings, s)[0] for s in ('train', 'val')}


def _iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def _inside(box):
    """Fraction of ``box`` (x1 y1 x2 y2, exclusive ends) in the frame."""
    x1, y1, x2, y2 = box
    w = max(0, min(x2, W) - max(x1, 0))
    h = max(0, min(y2, H) - max(y1, 0))
    return w * h / ((x2 - x1) * (y2 - y1))


def test_settings_are_checked():
    assert SyntheticAVASettings().motion == 'lanes'
    with pytest.raises(ValueError, match='motion must be one of'):
        SyntheticAVASettings(motion='cross')
    with pytest.raises(ValueError, match="needs actor_states='per_video'"):
        SyntheticAVASettings(motion='crossing')
    with pytest.raises(ValueError, match='needs min_actors >= 2'):
        SyntheticAVASettings(motion='crossing', actor_states='per_video')
    _settings()
    assert _settings().seconds_per_video == 4


def test_tubes_are_the_actors_runs_in_view(generated, videos):
    """Every tube is a contiguous run of frames of one actor, boxes
    clipped to the frame; frames with less than MIN_VISIBLE of the
    actor's box inside the frame have none; tube_actors names the actor;
    the actor keeps its one class."""
    _, gt = generated
    assert set(gt['tube_actors']) == set(gt['gttubes'])
    for split in ('train', 'val'):
        for video in videos[split]:
            n = gt['nframes'][video.video_id]
            assert n == 64 and gt['resolution'][video.video_id] == (H, W)
            assert len(video.actors) in (2, 3)
            tubes = gt['gttubes'][video.video_id]
            owners = gt['tube_actors'][video.video_id]
            assert sorted(tubes) == sorted(owners)
            per_actor = {}
            for label, ts in tubes.items():
                assert len(owners[label]) == len(ts)
                for t, a in zip(ts, owners[label]):
                    assert t.dtype == np.float32 and t.shape[1] == 5
                    np.testing.assert_array_equal(
                        t[:, 0], np.arange(t[0, 0], t[0, 0] + len(t)))
                    assert 1 <= t[0, 0] and t[-1, 0] <= n
                    assert (t[:, 1:3] >= 0).all()
                    assert (t[:, 3] <= W).all() and (t[:, 4] <= H).all()
                    assert (t[:, 3] > t[:, 1]).all()
                    assert len(t) >= 16  # fps: above the linking minimum
                    assert label == tube_class(video, a, 0)
                    for f in t[:, 0].astype(int):
                        per_actor.setdefault(a, {})[f] = None
            for a in range(len(video.actors)):
                frames = per_actor.get(a, {})
                for f in range(n):
                    box = video.geometry(a, f)[1]
                    visible = _inside(box) >= MIN_VISIBLE
                    assert (f + 1 in frames) == visible, (video.video_id, a, f)
                    if visible:
                        x1, y1, x2, y2 = box
                        want = (max(x1, 0), max(y1, 0), min(x2, W), min(y2, H))
                        assert video.visible_box(a, f) == want
                    else:
                        assert video.visible_box(a, f) is None


def test_crossings_exits_and_reentries(generated, videos):
    """The set has frames where two actors' boxes overlap (and pairs that
    pass each other fully), actors that leave the frame and actors that
    come back as a new tube."""
    _, gt = generated
    stats = crossing_stats(gt)
    total = {
        k: stats['train_videos'][k] + stats['test_videos'][k]
        for k in stats['train_videos']
    }
    assert total['videos'] == 6
    assert total['videos_with_crossing'] == 6  # walker 0 meets actor 1
    assert total['crossing_frames'] > 0 and total['passes'] > 0
    assert total['exits'] > 0 and total['reentries'] > 0
    assert total['exits'] >= total['reentries']
    # crossing frames by hand: two actors' GT boxes with IoU > 0.1
    hand = 0
    for split in ('train', 'val'):
        for v in videos[split]:
            boxes = [[v.visible_box(a, f) for f in range(v.num_frames)]
                     for a in range(len(v.actors))]
            for f in range(v.num_frames):
                hit = False
                for a in range(len(v.actors)):
                    for b in range(a + 1, len(v.actors)):
                        if boxes[a][f] is not None and boxes[b][f] is not \
                                None and _iou(boxes[a][f], boxes[b][f]) > .1:
                            hit = True
                hand += hit
    assert hand == total['crossing_frames']
    # an exit is a tube that ends while the video goes on; a re-entry a
    # later tube of the same actor
    reentries = 0
    for v, owners in gt['tube_actors'].items():
        seen = {}
        for label, actors in owners.items():
            for a in actors:
                seen[a] = seen.get(a, 0) + 1
        reentries += sum(c - 1 for c in seen.values())
    assert reentries == total['reentries']


def test_crossing_occludes_in_the_pixels(videos):
    """Where two actors' boxes overlap, the one drawn first is partly
    hidden: some of its own pixels differ in the full frame."""
    hidden = 0
    for v in videos['train'] + videos['val']:
        for f in range(0, v.num_frames, 2):
            for a in range(len(v.actors)):
                for b in range(len(v.actors)):
                    if a == b:
                        continue
                    ba, bb = v.visible_box(a, f), v.visible_box(b, f)
                    if ba is None or bb is None or _iou(ba, bb) <= 0.1:
                        continue
                    alone = v.render(f, actors=[a], background=False)
                    full = v.render(f, actors=[a, b], background=False)
                    mine = alone.any(axis=2)
                    hidden += int((alone[mine] != full[mine]).any())
    assert hidden > 0


def test_classes_of_crossed_actors(videos):
    """Walkers cross actors of every class: actor 0 walks, actor 1 walks
    towards it or stands, crouches or jumps in its way."""
    settings = _settings(
        num_train_videos=24, num_val_videos=1, width=W, height=H)
    crossed = set()
    for v in build_split(settings, 'train')[0]:
        assert TUBE_CLASSES[tube_class(v, 0, 0)] == 'walk'
        met = any(
            v.visible_box(0, f) is not None and v.visible_box(1, f) is not None
            and _iou(v.visible_box(0, f), v.visible_box(1, f)) > 0.1
            for f in range(v.num_frames))
        if met:
            crossed.add(TUBE_CLASSES[tube_class(v, 1, 0)])
    assert crossed == set(TUBE_CLASSES)


def test_deterministic_by_seed(generated):
    _, gt = generated
    again = build_tube_annotations(_settings(**TINY))
    other = build_tube_annotations(_settings(**TINY, seed=1))
    assert gt['tube_actors'] == again['tube_actors']
    differs = False
    for v in gt['gttubes']:
        assert sorted(gt['gttubes'][v]) == sorted(again['gttubes'][v])
        for label in gt['gttubes'][v]:
            for a, b in zip(gt['gttubes'][v][label],
                            again['gttubes'][v][label]):
                np.testing.assert_array_equal(a, b)
        mine = np.concatenate(
            [t for ts in gt['gttubes'][v].values() for t in ts])
        theirs = np.concatenate(
            [t for ts in other['gttubes'][v].values() for t in ts])
        differs |= mine.shape != theirs.shape or (mine != theirs).any()
    assert differs


def test_crossing_ground_truth_pinned(generated):
    """The crossing set's tubes and tube actors of seed 0 (digest taken
    when the setting was added): a later change of the generator that
    moves them must say so and update the digest."""
    import hashlib
    _, gt = generated
    h = hashlib.md5()
    for v in sorted(gt['gttubes']):
        for label in sorted(gt['gttubes'][v]):
            for t, a in zip(gt['gttubes'][v][label],
                            gt['tube_actors'][v][label]):
                h.update(repr((v, label, a)).encode())
                h.update(t.tobytes())
    assert h.hexdigest() == '8eb33e393869e4fae0324ea5bc7a8413'


def test_meta_and_default_pickle(generated, tmp_path):
    """meta.json records motion only when it is not 'lanes'; the default
    pickle has no tube_actors."""
    paths, _ = generated
    with open(paths['meta']) as f:
        settings = json.load(f)['settings']
    assert settings['motion'] == 'crossing'
    assert settings['seconds_per_video'] == 4 and settings['min_actors'] == 2
    small = dict(
        num_train_videos=1,
        num_val_videos=1,
        seconds_per_video=2,
        width=64,
        height=64,
        write_demo=False)
    plain = generate_synthetic_tubes(str(tmp_path / 'plain'), **small)
    with open(plain['meta']) as f:
        assert 'motion' not in json.load(f)['settings']
    with open(plain['tube_gt'], 'rb') as f:
        assert 'tube_actors' not in pickle.load(f)
    with pytest.raises(FileExistsError, match='other settings'):
        generate_synthetic_tubes(
            str(tmp_path / 'plain'), motion='crossing', min_actors=2, **small)


def test_tube_dataset_and_metric_read_it(generated):
    """TubeDataset reads the pickle (extra key tube_actors included) and
    TubeMetric ('ucf_jhmdb') scores the ground truth used as detections
    100 frame-mAP and video-mAP."""
    from stmixer_mm.datasets import TubeDataset
    from stmixer_mm.registry import METRICS
    paths, gt = generated
    kwargs = dict(
        pipeline=[],
        data_prefix=dict(img=paths['rawframes']),
        filename_tmpl='img_{:05d}.jpg')
    train = TubeDataset(paths['tube_gt'], **kwargs)
    test = TubeDataset(paths['tube_gt'], test_mode=True, **kwargs)
    assert len(test) == 3 * 64
    boxes = sum(
        len(t) for v in gt['train_videos'][0]
        for ts in gt['gttubes'][v].values() for t in ts)
    assert boxes > 0 and len(train) > 0
    present = {
        label
        for v in gt['test_videos'][0]
        for label in gt['gttubes'][v]
    }
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            protocol='ucf_jhmdb',
            ann_file=paths['tube_gt'],
            ignore_labels=[
                c for i, c in enumerate(TUBE_CLASSES) if i not in present
            ]))
    samples = []
    for i in range(len(test)):
        info = test.get_data_info(i)
        rows = {}
        for label, ts in gt['gttubes'][info['video_id']].items():
            for t in ts:
                hit = t[t[:, 0] == info['timestamp']]
                if len(hit):
                    rows.setdefault(tuple(hit[0, 1:]), []).append(label)
        scores = np.zeros((len(rows), len(TUBE_CLASSES) + 1), np.float32)
        for r, labels in enumerate(rows.values()):
            scores[r, [label + 1 for label in labels]] = 1.0
        bboxes = np.array(list(rows), np.float32).reshape(-1, 4) / \
            np.array([W, H, W, H], np.float32)
        samples.append(
            dict(
                video_id=info['video_id'],
                timestamp=info['timestamp'],
                pred_instances=dict(
                    bboxes=torch.from_numpy(bboxes),
                    scores=torch.from_numpy(scores))))
    metric.process(None, samples)
    res = metric.compute_metrics(metric.results)
    assert res['frameAP@0.5'] == pytest.approx(100.0)
    for key in ('videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75'):
        assert res[key] == pytest.approx(100.0), (key, res)


def test_cli(tmp_path, capsys):
    args, kwargs = syn_tubes.parse_args(['--motion', 'crossing'])
    assert (kwargs['num_train_videos'], kwargs['num_val_videos'],
            kwargs['seconds_per_video'], kwargs['min_actors'],
            kwargs['motion']) == (128, 32, 4, 2, 'crossing')
    args, kwargs = syn_tubes.parse_args([])
    assert kwargs['motion'] == 'lanes' and kwargs['num_train_videos'] == 256
    with pytest.raises(SystemExit):
        syn_tubes.parse_args(['--motion', 'sideways'])
    syn_tubes.main([
        '--out-dir',
        str(tmp_path / 'cli'), '--motion', 'crossing', '--num-train-videos',
        '1', '--num-val-videos', '1', '--width', '96', '--height', '64',
        '--no-demo'
    ])
    out = capsys.readouterr().out
    assert 'train_videos: videos 1, tubes' in out
    assert 'crossing_frames' in out and 'reentries' in out


def test_ava_rows_hold_the_actors_in_view(generated, videos):
    """The AVA csv of a crossing set has, at each keyframe, the actors in
    the frame (the tube boxes there, normalised), none outside it."""
    import csv
    paths, gt = generated
    rows = list(csv.reader(open(paths['train_ann'])))
    assert rows
    for video in videos['train']:
        for slot, ts in enumerate(video.timestamps):
            if ts in video.excluded:
                continue
            kf = video.keyframes[slot]
            want = {
                (a,
                 tuple(
                     round(x / s, 3)
                     for x, s in zip(video.visible_box(a, kf), (W, H, W, H))))
                for a in range(len(video.actors))
                if video.visible_box(a, kf) is not None
            }
            have = {(int(r[7]), tuple(round(float(x), 3) for x in r[2:6]))
                    for r in rows
                    if r[0] == video.video_id and int(r[1]) == ts}
            assert have == want
