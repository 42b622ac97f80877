"""TrackSequenceSampler: whole sequences of one video in time order, the
gap range, length, determinism, the distributed split, the errors, and a
DataLoader built by mmengine's Runner on the synthetic tube set."""
import collections
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import stmixer_mm  # noqa: F401
from projects.track_queries.track_queries import TrackSequenceSampler
from projects.track_queries.track_queries import track_sequence_sampler as tss
from stmixer_mm.apps.data_gen.synthetic_tubes import generate_synthetic_tubes
from stmixer_mm.registry import DATA_SAMPLERS


class FakeDataset:
    """Videos of the given lengths, samples stored in a shuffled order;
    timestamps 10, 20, ... (in steps of 10, as positions times 10)."""

    def __init__(self, lengths, seed=0):
        infos = [
            dict(video_id=f'v{v}', timestamp=10 * (t + 1))
            for v, n in enumerate(lengths) for t in range(n)
        ]
        order = np.random.default_rng(seed).permutation(len(infos))
        self.infos = [infos[i] for i in order]

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, i):
        return dict(self.infos[i])


def _sequences(sampler, ds):
    idx = list(sampler)
    assert len(idx) == len(sampler)
    assert len(idx) % sampler.num_clips == 0
    L = sampler.num_clips
    return [[ds.get_data_info(i) for i in idx[k:k + L]]
            for k in range(0, len(idx), L)]


@pytest.mark.parametrize('shuffle', [True, False])
def test_sequences_of_one_video_in_time_order(shuffle):
    ds = FakeDataset([12, 3, 30, 7])
    s = TrackSequenceSampler(
        ds, num_clips=3, frame_gap=(1, 4), shuffle=shuffle, seed=0)
    seqs = _sequences(s, ds)
    assert len(s) == len(ds) // 3 * 3 and len(seqs) == len(ds) // 3
    gaps = collections.Counter()
    for seq in seqs:
        assert len({x['video_id'] for x in seq}) == 1
        steps = np.diff([x['timestamp'] for x in seq]) // 10
        assert len(set(steps)) == 1  # one gap per sequence
        assert 1 <= steps[0] <= 4
        gaps[int(steps[0])] += 1
        # the 3-sample video only fits at gap 1
        assert seq[0]['video_id'] != 'v1' or steps[0] == 1
    if shuffle:
        assert set(gaps) == {1, 2, 3, 4}  # every gap is drawn
    else:
        # no randomness: the smallest gap, the videos (in order of first
        # appearance in the dataset) tiled in order
        assert set(gaps) == {1}
        first = ds.get_data_info(0)['video_id']
        got = [(x['video_id'], x['timestamp']) for x in seqs[0] + seqs[1]]
        assert got == [(first, t) for t in range(10, 70, 10)]


def test_videos_are_drawn_by_their_number_of_starts():
    # starts at gap 1, num_clips 2: 1 and 9
    ds = FakeDataset([2, 10])
    s = TrackSequenceSampler(ds, num_clips=2, sequences_per_epoch=2000, seed=3)
    first = [ds.get_data_info(i)['video_id'] for i in list(s)[::2]]
    assert 0.05 < first.count('v0') / len(first) < 0.15  # 1 / 10


def test_length_and_determinism():
    ds = FakeDataset([20, 15])
    s = TrackSequenceSampler(
        ds, num_clips=4, frame_gap=(1, 3), sequences_per_epoch=7, seed=5)
    assert len(s) == 28 and len(list(s)) == 28
    a = list(s)
    assert list(s) == a  # same epoch, same indices
    assert list(
        TrackSequenceSampler(
            ds, num_clips=4, frame_gap=(1, 3), sequences_per_epoch=7,
            seed=5)) == a
    s.set_epoch(1)
    b = list(s)
    assert b != a
    s.set_epoch(0)
    assert list(s) == a
    assert list(
        TrackSequenceSampler(
            ds, num_clips=4, frame_gap=(1, 3), sequences_per_epoch=7,
            seed=6)) != a
    # num_clips 1: every sample alone, default count = len(dataset)
    s = TrackSequenceSampler(ds, num_clips=1, seed=0)
    assert len(s) == len(ds)


def test_unset_seed_is_synced(monkeypatch):
    monkeypatch.setattr(tss, 'sync_random_seed', lambda: 1234)
    assert TrackSequenceSampler(FakeDataset([5]), num_clips=2).seed == 1234


@pytest.mark.parametrize('round_up', [True, False])
def test_distributed_split_keeps_sequences_whole(monkeypatch, round_up):
    ds = FakeDataset([9, 14, 6])
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setattr(tss, 'get_dist_info', lambda r=rank: (r, 2))
        s = TrackSequenceSampler(
            ds,
            num_clips=3,
            frame_gap=(1, 2),
            sequences_per_epoch=5,
            seed=7,
            round_up=round_up)
        per_rank.append(_sequences(s, ds))
        for seq in per_rank[-1]:
            assert len({x['video_id'] for x in seq}) == 1
    monkeypatch.setattr(tss, 'get_dist_info', lambda: (0, 1))
    single = _sequences(
        TrackSequenceSampler(
            ds, num_clips=3, frame_gap=(1, 2), sequences_per_epoch=5, seed=7),
        ds)
    if round_up:  # 5 sequences -> 3 per rank, the first repeated
        assert [len(p) for p in per_rank] == [3, 3]
        single = single + single[:1]
    else:
        assert [len(p) for p in per_rank] == [3, 2]
    # rank r takes sequences r, r + 2, ... of the one drawn list
    assert per_rank[0] == single[0::2] and per_rank[1] == single[1::2]


def test_errors():
    ds = FakeDataset([3, 4])
    with pytest.raises(
            ValueError,
            match=r'no video is long enough for num_clips=3 samples at the '
            r"smallest frame_gap=2 .*needs 5 samples.*'v1', has 4 samples"):
        TrackSequenceSampler(ds, num_clips=3, frame_gap=(2, 5))
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match='num_clips must be'):
            TrackSequenceSampler(ds, num_clips=bad)
    for bad in ((0, 2), (3, 2), 2, (1, 2, 3)):
        with pytest.raises(ValueError, match='frame_gap must be'):
            TrackSequenceSampler(ds, num_clips=2, frame_gap=bad)
    with pytest.raises(ValueError, match='sequences_per_epoch'):
        TrackSequenceSampler(ds, num_clips=2, sequences_per_epoch=0)
    ds.infos[1].pop('timestamp')
    with pytest.raises(
            ValueError, match=r"get_data_info\(1\).*\['timestamp'\]"):
        TrackSequenceSampler(ds, num_clips=2)


def test_registered():
    assert DATA_SAMPLERS.get('TrackSequenceSampler') is TrackSequenceSampler


@pytest.fixture(scope='module')
def tubes(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('tubes'))
    generate_synthetic_tubes(
        root,
        num_train_videos=2,
        num_val_videos=1,
        seconds_per_video=2,
        width=64,
        height=64,
        write_demo=False)
    return root


def test_runner_dataloader_gives_whole_sequences(tubes):
    init_default_scope('mmaction')  # as the configs
    pipeline = [
        dict(type='SampleTubeFrames', clip_len=2, frame_interval=1),
        dict(type='CheckedRawFrameDecode'),
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(
            type='PackTrackInputs',
            meta_keys=('img_shape', 'img_key', 'video_id', 'timestamp'))
    ]
    dataset = dict(
        type='TubeDataset',
        ann_file=osp.join(tubes, 'annotations', 'tubes_GT.pkl'),
        data_prefix=dict(img=osp.join(tubes, 'rawframes')),
        filename_tmpl='img_{:05d}.jpg',
        pipeline=pipeline)
    loader = Runner.build_dataloader(
        dict(
            batch_size=4,
            num_workers=0,
            sampler=dict(
                type='TrackSequenceSampler',
                num_clips=2,
                frame_gap=(1, 3),
                sequences_per_epoch=4,
                seed=0),
            dataset=dataset),
        seed=0)
    assert isinstance(loader.sampler, TrackSequenceSampler)
    batches = list(loader)
    assert len(batches) == 2
    for batch in batches:
        samples = batch['data_samples']
        assert len(samples) == 4 and batch['inputs'][0].shape[1:] == (2, 64,
                                                                      64)
        for a, b in (samples[0:2], samples[2:4]):
            assert a.video_id == b.video_id
            assert 1 <= b.timestamp - a.timestamp <= 3
            for s in (a, b):
                gt = s.gt_instances
                assert len(gt.track_ids) == len(gt.bboxes) > 0
            # synthetic actors keep their tube over the whole video
            assert sorted(a.gt_instances.track_ids.tolist()) == \
                sorted(b.gt_instances.track_ids.tolist())
