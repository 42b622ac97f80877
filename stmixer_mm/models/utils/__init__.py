from .consistency import (check_explicit_setting, check_neck_channels,
                          check_person_loss_and_match_costs, check_pyramid,
                          check_pyramid_strides, check_query_generator,
                          check_stage_heads, inject_forecast_head_settings,
                          inject_mask_head_settings,
                          inject_query_generator_settings)
from .finite import check_finite_stage_outputs, finite_flags

__all__ = [
    'check_stage_heads', 'check_person_loss_and_match_costs',
    'inject_query_generator_settings', 'check_query_generator',
    'check_neck_channels', 'check_pyramid', 'check_pyramid_strides',
    'check_explicit_setting', 'check_finite_stage_outputs', 'finite_flags',
    'inject_mask_head_settings', 'inject_forecast_head_settings'
]
