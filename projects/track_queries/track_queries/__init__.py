"""Track queries (MOTR-style) on STMixer, an experimental project
(``../README.md``). Importing it registers its parts and their settings
checks (``custom_imports`` of its configs does so)."""
from .query_interaction import QueryInteractionBlock
from .query_tracker import QueryTracker, VideoTracks
from .settings import TRACK_CFG_DEFAULTS
from .stmixer_tracker import STMixerTracker
from .track_sequence_sampler import TrackSequenceSampler

__all__ = [
    'QueryInteractionBlock', 'QueryTracker', 'VideoTracks',
    'TRACK_CFG_DEFAULTS', 'STMixerTracker', 'TrackSequenceSampler'
]
