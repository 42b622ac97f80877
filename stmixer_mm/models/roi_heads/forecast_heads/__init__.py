from .stmixer_forecast_head import FUTURE_FIELDS, STMixerForecastHead

__all__ = ['STMixerForecastHead', 'FUTURE_FIELDS']
