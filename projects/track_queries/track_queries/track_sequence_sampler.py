"""Sampling of short keyframe sequences for training with track queries."""
import math
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from stmixer_mm.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class TrackSequenceSampler(Sampler):
    """Sequences of ``num_clips`` samples of one video, in time order, yielded
    sequence-major: a sequence takes positions ``s, s + g, ...`` of a video's
    samples sorted by ``timestamp`` (ties by index); without ``shuffle`` the
    smallest ``g``, sequences tiling each video.

    Args:
        dataset: ``get_data_info(i)`` has ``video_id`` and ``timestamp``.
        num_clips (int): Samples per sequence (>= 1).
        frame_gap (tuple[int, int]): Inclusive range of the gap ``g`` (in the
            video's sorted samples), drawn per sequence.
        sequences_per_epoch (int, optional): Sequences per epoch (all ranks;
            default ``len(dataset) // num_clips``).
        shuffle (bool): Draw the sequences at random.
        seed (int, optional): The same on all ranks; None: mmengine's
            ``sync_random_seed()``, as ``DefaultSampler``.
        round_up (bool): Repeat so every rank gets as many.
    """

    def __init__(self,
                 dataset,
                 num_clips: int,
                 frame_gap: Sequence[int] = (1, 1),
                 sequences_per_epoch: Optional[int] = None,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 round_up: bool = True) -> None:
        if isinstance(num_clips, bool) or \
                not isinstance(num_clips, (int, np.integer)) or num_clips < 1:
            raise ValueError(f'TrackSequenceSampler: num_clips must be an '
                             f'integer >= 1, got {num_clips!r}')
        gap = tuple(frame_gap) if isinstance(frame_gap,
                                             (list, tuple)) else None
        if gap is None or len(gap) != 2 or not all(
                isinstance(x, (int, np.integer)) and not isinstance(x, bool)
                for x in gap) or not 1 <= gap[0] <= gap[1]:
            raise ValueError(
                'TrackSequenceSampler: frame_gap must be two integers (min, '
                f'max) with 1 <= min <= max, got {frame_gap!r}')
        bad_count = sequences_per_epoch is not None and (
            not isinstance(sequences_per_epoch,
                           (int, np.integer)) or sequences_per_epoch < 1)
        if bad_count:
            raise ValueError(
                'TrackSequenceSampler: sequences_per_epoch must be an integer '
                f'>= 1 or None, got {sequences_per_epoch!r}')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.num_clips = int(num_clips)
        self.frame_gap = (int(gap[0]), int(gap[1]))
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.round_up = round_up

        self.video_ids, self.video_indices = self._group_by_video(dataset)
        lengths = np.array([len(v) for v in self.video_indices])
        span = self.num_clips - 1
        if not (lengths - span * self.frame_gap[0] >= 1).any():
            longest = int(np.argmax(lengths))
            raise ValueError(
                f'TrackSequenceSampler: no video is long enough for '
                f'num_clips={self.num_clips} samples at the smallest '
                f'frame_gap={self.frame_gap[0]} (frame_gap={self.frame_gap}, '
                f'needs {span * self.frame_gap[0] + 1} samples): the longest, '
                f'{self.video_ids[longest]!r}, has {lengths[longest]} '
                'samples')
        # gaps that at least one video is long enough for
        max_gap = self.frame_gap[1] if span == 0 else min(
            self.frame_gap[1], int((lengths.max() - 1) // span))
        self._gaps = np.arange(self.frame_gap[0], max_gap + 1)
        # [gap, video] number of valid starts
        starts = lengths[None] - span * self._gaps[:, None]
        self._starts = np.maximum(starts, 0)
        self._cum_starts = np.cumsum(self._starts, axis=1)

        self.num_sequences = int(sequences_per_epoch) \
            if sequences_per_epoch is not None \
            else max(len(dataset) // self.num_clips, 1)
        if self.round_up:
            self.num_rank_sequences = math.ceil(self.num_sequences /
                                                self.world_size)
            self.total_sequences = self.num_rank_sequences * self.world_size
        else:
            self.num_rank_sequences = math.ceil(
                (self.num_sequences - self.rank) / self.world_size)
            self.total_sequences = self.num_sequences

    @staticmethod
    def _group_by_video(dataset) -> Tuple[List, List[np.ndarray]]:
        """Video ids (in order of first appearance) and each video's dataset
        indices sorted by timestamp."""
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        groups = {}
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            missing = [k for k in ('video_id', 'timestamp') if k not in info]
            if missing:
                raise ValueError(
                    f'TrackSequenceSampler: get_data_info({i}) of '
                    f'{type(dataset).__name__} has no {missing} (it needs '
                    '"video_id" and "timestamp" to group samples into '
                    'sequences)')
            groups.setdefault(info['video_id'], []).append(
                (info['timestamp'], i))
        if not groups:
            raise ValueError('TrackSequenceSampler: the dataset is empty')
        ids = list(groups)
        return ids, [
            np.array([i for _, i in sorted(groups[v])], np.int64) for v in ids
        ]

    def _sequences(self) -> List[Tuple[int, int, int]]:
        """``num_sequences`` (video, start, gap) of this epoch."""
        n = self.num_sequences
        if self.shuffle:
            rng = np.random.default_rng(self.seed + self.epoch)
            gap_pos = rng.integers(len(self._gaps), size=n)
            out = []
            for k in gap_pos:
                cum = self._cum_starts[k]
                r = int(rng.integers(cum[-1]))
                video = int(np.searchsorted(cum, r, side='right'))
                start = r - (int(cum[video - 1]) if video else 0)
                out.append((video, start, int(self._gaps[k])))
            return out
        gap = self.frame_gap[0]
        block = self.num_clips * gap
        tiles = []
        for v, idx in enumerate(self.video_indices):
            for b in range(0, len(idx) - block + 1, block):
                tiles += [(v, b + j, gap) for j in range(gap)]
        if not tiles:  # only fits without tiling (gap > 1, short videos)
            tiles = [(v, s, gap) for v in range(len(self.video_indices))
                     for s in range(self._starts[0][v])]
        return (tiles * (n // len(tiles) + 1))[:n]

    def __iter__(self) -> Iterator[int]:
        seqs = self._sequences()
        if self.round_up:
            repeats = self.total_sequences // len(seqs) + 1
            seqs = (seqs * repeats)[:self.total_sequences]
        seqs = seqs[self.rank:self.total_sequences:self.world_size]
        out = []
        for video, start, gap in seqs:
            idx = self.video_indices[video]
            out += idx[start:start + (self.num_clips - 1) * gap +
                       1:gap].tolist()
        return iter(out)

    def __len__(self) -> int:
        """The number of indices this rank yields."""
        return self.num_rank_sequences * self.num_clips

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch: with ``shuffle=True`` each epoch draws other
        sequences (seed ``seed + epoch``, as ``DefaultSampler``)."""
        self.epoch = epoch
