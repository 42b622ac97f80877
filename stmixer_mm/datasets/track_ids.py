"""The ground-truth person / tube ids of one keyframe, checked where they
are packed (:class:`~stmixer_mm.datasets.PackTrackInputs`) and where they
are used (e.g. ``STMixerTracker.loss`` of ``projects/track_queries``):
MOTR-style matching assigns a carried track query to *the* box with its id,
so two boxes of one keyframe with one id make it meaningless; a negative id
is no person's."""
from collections import Counter
from typing import Iterable, Optional

__all__ = ['track_ids_problem']


def track_ids_problem(ids: Iterable[int]) -> Optional[str]:
    """None when ``ids`` (one per GT box of a keyframe) are usable track
    ids (integers >= 0, each once), else what is wrong, naming the id."""
    ids = [int(i) for i in ids]
    negative = sorted({i for i in ids if i < 0})
    if negative:
        return (f'track id {negative[0]} is negative (ids {negative}); '
                'expected ids >= 0, the person / tube id of each box')
    counts = Counter(ids)
    repeated = sorted(i for i, n in counts.items() if n > 1)
    if repeated:
        first = repeated[0]
        return (f'track id {first} is given to {counts[first]} of its '
                f'{len(ids)} GT boxes (repeated ids: {repeated}); expected '
                'one id per person: a track query is matched to the one box '
                'with its id, so persons sharing an id cannot be tracked '
                '(check the person-id column of the annotations)')
    return None
