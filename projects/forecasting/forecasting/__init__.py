"""Action forecasting on STMixer (``../README.md``): each detected person's
box, actions and presence ahead of the clip. Importing it registers its
parts (``custom_imports`` of its configs does so) and the results'
``forecast`` field."""
from . import functional
from .datasets import AVAForecastDataset, TubeForecastDataset, causal_clips
from .forecast_decoder import STMixerForecastDecoder
from .forecast_head import (FUTURE_FIELDS, STMixerForecastHead, box_features,
                            box_grid_features)
from .forecast_metric import ForecastMetric
from .forecast_targets import (LoadForecastTargets, PackForecastInputs,
                               person_futures)
from .result_field import FORECAST_FIELDS, ForecastField, draw_forecast

__all__ = [
    'functional', 'AVAForecastDataset', 'TubeForecastDataset', 'causal_clips',
    'STMixerForecastDecoder', 'FUTURE_FIELDS', 'STMixerForecastHead',
    'box_features', 'box_grid_features', 'ForecastMetric',
    'LoadForecastTargets', 'PackForecastInputs', 'person_futures',
    'FORECAST_FIELDS', 'ForecastField', 'draw_forecast'
]
