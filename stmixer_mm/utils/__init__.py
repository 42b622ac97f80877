from .checkpoint_converter import (ConversionReport,
                                   convert_official_state_dict,
                                   extract_state_dict)
from .compat import APPLIED_FIXES, apply_compat_fixes
from .dependencies import DependencyError, check_dependencies

__all__ = [
    'APPLIED_FIXES', 'apply_compat_fixes', 'DependencyError',
    'check_dependencies', 'ConversionReport', 'convert_official_state_dict',
    'extract_state_dict'
]
