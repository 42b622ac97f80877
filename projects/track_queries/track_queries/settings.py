"""The ``track_cfg`` settings of :class:`STMixerTracker` (checks and defaults;
the class's ``SETTINGS`` holds :data:`TRACK_CFG`, and inherits ``STMixer``'s
along its MRO)."""
from stmixer_mm.utils.setting_types import (NON_NEGATIVE, PROBABILITY, Fields,
                                            Float, Int)

#: STMixerTracker's track_cfg, each key once: its setting and its default
_TRACK_CFG_KEYS = dict(
    # training
    num_clips=(Int(min=2), 4),
    drop_prob=(Float(0, 1, max_open=True), 0.1),
    # the decoder stage where the carried queries join the learned ones
    entry_stage=(NON_NEGATIVE, 1),
    # inference
    birth_thr=(PROBABILITY, 0.5),
    track_thr=(PROBABILITY, 0.4),
    max_lost=(NON_NEGATIVE, 2),
    dup_iou_thr=(PROBABILITY, 0.7))
#: ``track_cfg`` of ``STMixerTracker`` and its defaults
TRACK_CFG_DEFAULTS = {
    key: default
    for key, (_, default) in _TRACK_CFG_KEYS.items()
}
#: the settings of ``track_cfg``: every key, no other
TRACK_CFG = Fields(
    strict=True, **{
        key: s
        for key, (s, _) in _TRACK_CFG_KEYS.items()
    })
