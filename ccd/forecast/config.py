"""The forecast's defaults from ccd's settings (for the composition root and the CLI)."""

from __future__ import annotations

from ccd.forecast.parameters import ForecastDefaults
from ccd.settings import Settings


def forecast_defaults(settings: Settings) -> ForecastDefaults:
    f = settings.forecast
    return ForecastDefaults(
        zone=settings.reports.zone,
        interval=f.interval_minutes,
        weeks=f.weeks,
        sl_target_pct=f.sl_target_pct,
        sl_seconds=f.sl_seconds,
        max_occupancy_pct=f.max_occupancy_pct,
        shrinkage_pct=f.shrinkage_pct,
    )
