from .checkpoint_loading import (CheckpointFileError, find_state_dict,
                                 load_checkpoint_file, load_pickle)
from .compat import APPLIED_FIXES, apply_compat_fixes
from .dependencies import DependencyError, check_dependencies
from .settings import (ConfigFileError, ConfigSettingError, check_config,
                       load_config)
from .type_names import type_name

__all__ = [
    'APPLIED_FIXES', 'apply_compat_fixes', 'DependencyError',
    'check_dependencies', 'CheckpointFileError', 'find_state_dict',
    'load_checkpoint_file', 'load_pickle', 'ConfigFileError',
    'ConfigSettingError', 'check_config', 'load_config', 'type_name'
]
