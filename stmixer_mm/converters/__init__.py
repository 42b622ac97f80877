"""Checkpoint converters: official STMixer, PySlowFast Kinetics and VideoMAE
checkpoints -> stmixer_mm's names.

The rule sets of the tools in ``tools/model_converters/``. Not imported by
``import stmixer_mm`` nor by any runtime module (models, engine, apis):
only the converter tools and their tests import this package. Checkpoint
files are read by :mod:`stmixer_mm.utils.checkpoint_loading` and weights
compared by :func:`stmixer_mm.engine.checkpoint.diff_state_dicts`, the
same code the runtime uses.
"""
from .common import ConversionReport, compare_state_dicts, detect_backbone
from .official import (BACKBONES, OFFICIAL_EMPTY_WEIGHT,
                       convert_official_state_dict, extract_state_dict)
from .pyslowfast import (convert_pyslowfast_state_dict,
                         extract_pyslowfast_state_dict)
from .videomae import convert_videomae_state_dict, extract_videomae_state_dict

__all__ = [
    'ConversionReport', 'compare_state_dicts', 'detect_backbone', 'BACKBONES',
    'OFFICIAL_EMPTY_WEIGHT', 'convert_official_state_dict',
    'extract_state_dict', 'convert_pyslowfast_state_dict',
    'extract_pyslowfast_state_dict', 'convert_videomae_state_dict',
    'extract_videomae_state_dict'
]
