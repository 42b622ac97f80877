"""Track queries (temporal object queries, MOTR-style) on STMixer: an
experimental project outside the core package (see ``../README.md`` for
what it is, how to run it and its honest table). Importing it registers
its parts in stmixer_mm's registries and checks their settings as the
core's (``custom_imports`` of its configs does so)."""
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
