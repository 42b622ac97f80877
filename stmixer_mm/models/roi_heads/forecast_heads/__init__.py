from .stmixer_forecast_head import (FUTURE_FIELDS, STMixerForecastHead,
                                    box_features, box_grid_features)

__all__ = [
    'STMixerForecastHead', 'FUTURE_FIELDS', 'box_grid_features', 'box_features'
]
