"""Track queries (MOTR-style) on STMixer, an experimental project
(``../README.md``). Importing it registers its parts and their settings
checks (``custom_imports`` of its configs does so)."""
from stmixer_mm.utils.settings import extend_checks
from .query_interaction import QueryInteractionBlock
from .query_tracker import QueryTracker, VideoTracks
from .settings import TRACK_CFG_DEFAULTS
from .stmixer_tracker import STMixerTracker
from .track_sequence_sampler import TrackSequenceSampler

extend_checks(__name__)

__all__ = [
    'QueryInteractionBlock', 'QueryTracker', 'VideoTracks',
    'TRACK_CFG_DEFAULTS', 'STMixerTracker', 'TrackSequenceSampler'
]
