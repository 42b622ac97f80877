"""Checkpoint converters (official STMixer, PySlowFast, VideoMAE ->
stmixer_mm's names) of ``tools/model_converters/``; not imported by
``import stmixer_mm`` (mmengine's checkpoint loader imports
:mod:`.official` when it reads an official STMixer file:
``stmixer_mm.apis.official_checkpoints``)."""
from .common import ConversionReport, compare_state_dicts, detect_backbone
from .official import (BACKBONES, OFFICIAL_EMPTY_WEIGHT,
                       OfficialCheckpointError, convert_official_checkpoint,
                       convert_official_state_dict, extract_state_dict,
                       official_checkpoint_meta, refuse_unknown_keys)
from .pyslowfast import (convert_pyslowfast_state_dict,
                         extract_pyslowfast_state_dict)
from .videomae import convert_videomae_state_dict, extract_videomae_state_dict

__all__ = [
    'ConversionReport', 'compare_state_dicts', 'detect_backbone', 'BACKBONES',
    'OFFICIAL_EMPTY_WEIGHT', 'convert_official_state_dict',
    'extract_state_dict', 'OfficialCheckpointError',
    'convert_official_checkpoint', 'official_checkpoint_meta',
    'refuse_unknown_keys', 'convert_pyslowfast_state_dict',
    'extract_pyslowfast_state_dict', 'convert_videomae_state_dict',
    'extract_videomae_state_dict'
]
