from .consistency import (CHANNEL_ARGS, check_explicit_setting, check_pyramid,
                          inject_query_generator_settings)
from .finite import check_finite_stage_outputs, finite_flags

__all__ = [
    'CHANNEL_ARGS', 'inject_query_generator_settings', 'check_pyramid',
    'check_explicit_setting', 'check_finite_stage_outputs', 'finite_flags'
]
