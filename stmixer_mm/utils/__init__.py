from .checkpoint_converter import (CheckpointFileError, ConversionReport,
                                   convert_official_state_dict,
                                   convert_pyslowfast_state_dict,
                                   extract_state_dict, load_checkpoint_file)
from .compat import APPLIED_FIXES, apply_compat_fixes
from .dependencies import DependencyError, check_dependencies
from .settings import (ConfigFileError, ConfigSettingError, check_config,
                       declare_settings, load_config)

__all__ = [
    'APPLIED_FIXES', 'apply_compat_fixes', 'DependencyError',
    'check_dependencies', 'ConversionReport', 'convert_official_state_dict',
    'extract_state_dict', 'CheckpointFileError',
    'convert_pyslowfast_state_dict', 'load_checkpoint_file',
    'ConfigFileError', 'ConfigSettingError', 'check_config',
    'declare_settings', 'load_config'
]
