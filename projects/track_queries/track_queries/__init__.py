"""Track queries (MOTR-style) on STMixer, an experimental project
(``../README.md``). Importing it registers its parts (``custom_imports`` of
its configs does so)."""
from .query_interaction import QueryInteractionBlock
from .query_tracker import QueryTracker, VideoTracks
from .stmixer_tracker import TRACK_CFG_DEFAULTS, STMixerTracker
from .track_sequence_sampler import TrackSequenceSampler

__all__ = [
    'QueryInteractionBlock', 'QueryTracker', 'VideoTracks',
    'TRACK_CFG_DEFAULTS', 'STMixerTracker', 'TrackSequenceSampler'
]
