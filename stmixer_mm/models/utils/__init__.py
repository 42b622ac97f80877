from .consistency import (CHANNEL_ARGS, check_explicit_setting,
                          inject_query_generator_settings)

__all__ = [
    'CHANNEL_ARGS', 'inject_query_generator_settings', 'check_explicit_setting'
]
