from .stmixer_forecast_head import (FUTURE_FIELDS, STMixerForecastHead,
                                    box_grid_features, last_frame_box_features)

__all__ = [
    'STMixerForecastHead', 'FUTURE_FIELDS', 'box_grid_features',
    'last_frame_box_features'
]
