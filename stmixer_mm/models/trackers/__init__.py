from .query_tracker import QueryTracker, VideoTracks

__all__ = ['QueryTracker', 'VideoTracks']
