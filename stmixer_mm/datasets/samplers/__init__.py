"""Data samplers (registered in mmengine's ``DATA_SAMPLERS``)."""
from .track_sequence_sampler import TrackSequenceSampler

__all__ = ['TrackSequenceSampler']
