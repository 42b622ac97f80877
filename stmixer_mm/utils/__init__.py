from .checkpoint_loading import (CheckpointFileError, load_checkpoint_file,
                                 load_pickle)
from .checks import ConfigSettingError
from .compat import APPLIED_FIXES, apply_compat_fixes
from .dependencies import check_dependencies
from .type_names import type_name

__all__ = [
    'APPLIED_FIXES', 'apply_compat_fixes', 'check_dependencies',
    'CheckpointFileError', 'load_checkpoint_file', 'load_pickle',
    'ConfigSettingError', 'type_name'
]
