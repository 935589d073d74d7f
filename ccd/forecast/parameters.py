"""What a forecast is asked for, validated the same way for the REST API and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ccd.domain.safety import is_ami_safe
from ccd.forecast.intervals import INTERVAL_MINUTES
from ccd.forecast.staffing import StaffingTarget

FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2099, 12, 31)
MAX_WEEKS = 52
MIN_OCCUPANCY_PCT = 10.0

Percent = Annotated[float, Field(allow_inf_nan=False)]


class ForecastParameters(BaseModel):
    """The wire names are the query parameters' and (with ``-`` for ``_``) the CLI's."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    queue: Annotated[str, Field(min_length=1, max_length=80)]
    day: Annotated[date, Field(alias="date")]
    interval: int
    sl_target_pct: Annotated[Percent, Field(gt=0, lt=100)]
    sl_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]
    # At least MIN_OCCUPANCY_PCT: a cap of c % staffs 100 / c times the traffic, and each
    # agent is a step of Erlang C's loop (0.00001 % meant minutes of CPU per interval).
    max_occupancy_pct: Annotated[Percent, Field(ge=MIN_OCCUPANCY_PCT, le=100)]
    weeks: Annotated[int, Field(ge=1, le=MAX_WEEKS)]
    shrinkage_pct: Annotated[Percent, Field(ge=0, le=90)] = 0.0

    @field_validator("queue")
    @classmethod
    def _safe_queue(cls, value: str) -> str:
        if not is_ami_safe(value):
            raise ValueError("must not contain CR, LF or NUL characters")
        return value

    @field_validator("day")
    @classmethod
    def _plausible_day(cls, value: date) -> date:
        if not FIRST_DATE <= value <= LAST_DATE:
            raise ValueError(f"must be between {FIRST_DATE} and {LAST_DATE}")
        return value

    @field_validator("interval")
    @classmethod
    def _known_interval(cls, value: int) -> int:
        if value not in INTERVAL_MINUTES:
            raise ValueError(f"must be one of {', '.join(map(str, INTERVAL_MINUTES))} (minutes)")
        return value

    def target(self) -> StaffingTarget:
        return StaffingTarget(
            service_level=self.sl_target_pct / 100,
            threshold_s=self.sl_seconds,
            max_occupancy=self.max_occupancy_pct / 100,
            shrinkage=self.shrinkage_pct / 100,
        )


@dataclass(frozen=True, slots=True)
class ForecastDefaults:
    """The report zone and the parameters a request leaves out (``[forecast]`` settings)."""

    zone: str = "UTC"
    interval: int = 30
    weeks: int = 6
    sl_target_pct: float = 80.0
    sl_seconds: float = 20.0
    max_occupancy_pct: float = 85.0
    shrinkage_pct: float = 0.0

    def fill(self, given: Mapping[str, object]) -> dict[str, object]:
        """``given`` (wire names) with every optional parameter it lacks set to its default."""
        defaults: dict[str, object] = {
            "interval": self.interval,
            "weeks": self.weeks,
            "sl_target_pct": self.sl_target_pct,
            "sl_seconds": self.sl_seconds,
            "max_occupancy_pct": self.max_occupancy_pct,
            "shrinkage_pct": self.shrinkage_pct,
        }
        return defaults | dict(given)


OPTIONAL_PARAMETERS = frozenset(
    {"interval", "weeks", "sl_target_pct", "sl_seconds", "max_occupancy_pct", "shrinkage_pct"}
)
PARAMETERS = frozenset({"queue", "date"}) | OPTIONAL_PARAMETERS
