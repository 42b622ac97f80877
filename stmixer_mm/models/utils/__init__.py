from .consistency import (CHANNEL_ARGS, check_explicit_setting,
                          check_neck_channels, check_pyramid,
                          check_pyramid_strides, inject_forecast_head_settings,
                          inject_mask_head_settings,
                          inject_query_generator_settings)
from .finite import check_finite_stage_outputs, finite_flags

__all__ = [
    'CHANNEL_ARGS', 'inject_query_generator_settings', 'check_neck_channels',
    'check_pyramid', 'check_pyramid_strides', 'check_explicit_setting',
    'check_finite_stage_outputs', 'finite_flags', 'inject_mask_head_settings',
    'inject_forecast_head_settings'
]
