"""Recordings and recording policies as ``/api/v1/recordings``, the pause/resume routes
and the queue/campaign ``…/recording`` routes show them (``ccd.api.recordings``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationInfo, field_validator

STRICT = ConfigDict(extra="forbid", frozen=True)


class PauseView(BaseModel):
    """A PCI pause: the audio between start and end is silence."""

    model_config = STRICT

    start: str = Field(description="ISO 8601 UTC")
    end: str | None = Field(description="ISO 8601 UTC; null while still paused")


class RecordingView(BaseModel):
    model_config = STRICT

    id: str
    call_id: str = Field(description="the recorded call's linkedid")
    agent_id: str | None
    queue: str | None
    campaign_id: str | None
    started_at: str = Field(description="ISO 8601 UTC")
    ended_at: str | None = Field(description="ISO 8601 UTC; null while recording")
    duration_s: float | None = Field(description="seconds; null while recording")
    pauses: list[PauseView]
    paused: bool = Field(description="a pause is open now")
    size_bytes: int | None = Field(description="the file's size once finished")
    deleted_at: str | None = Field(description="when retention deleted the audio (ISO 8601)")
    format: Literal["wav"]
    server: str | None = Field(
        description="the Asterisk server that recorded it; null: the first configured server"
        " (recorded before recordings carried a server)"
    )


class RecordingList(BaseModel):
    model_config = STRICT

    recordings: list[RecordingView] = Field(description="newest first")
    count: int


class PolicyAllOrNone(BaseModel):
    model_config = STRICT

    mode: Literal["all", "none"]


class PolicyPercent(BaseModel):
    model_config = STRICT

    mode: Literal["percent"]
    percent: int = Field(ge=0, le=100, description="the share of calls recorded, drawn per call")


class RecordingPolicyView(RootModel[PolicyAllOrNone | PolicyPercent]):
    """Which calls of a queue or campaign are recorded."""

    model_config = ConfigDict(frozen=True)


class RecordingPolicyBody(BaseModel):
    """``{"mode": "all"|"none"}`` or ``{"mode": "percent", "percent": 0..100}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["all", "none", "percent"]
    # Checked against mode (declared before it, so already validated): required with
    # percent, refused with the others — the error names percent.
    percent: Annotated[int, Field(strict=True, ge=0, le=100)] | None = Field(
        default=None,
        validate_default=True,
        description="the share of calls recorded; only with mode percent, and required there",
    )

    @field_validator("percent")
    @classmethod
    def _percent_matches_mode(cls, percent: int | None, info: ValidationInfo) -> int | None:
        mode = info.data.get("mode")
        if mode == "percent" and percent is None:
            raise ValueError("required with mode percent: a whole number 0-100")
        if mode is not None and mode != "percent" and percent is not None:
            raise ValueError(f"only with mode percent, not {mode}")
        return percent
