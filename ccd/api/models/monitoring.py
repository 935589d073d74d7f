"""Live monitoring sessions as ``/api/v1/monitors`` shows them (``ccd.api.monitoring``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True)


class _Session(BaseModel):
    model_config = STRICT

    id: str
    call_id: str = Field(description="the monitored call's linkedid")
    agent_id: str | None = Field(description="null: the agent leg is not an ACD agent's")
    agent_channel: str = Field(description="the agent's channel ChanSpy listens to")
    device: str = Field(description="the supervisor's device ccd rang")
    mode: Literal["listen", "whisper", "barge"] = Field(
        description="listen: hears both; whisper: the agent hears the supervisor too;"
        " barge: both hear the supervisor"
    )
    started_at: str = Field(description="ISO 8601 UTC")
    answered_at: str | None = Field(description="ISO 8601 UTC; null while (or if only) ringing")
    started_by: str = Field(description="the id of the token that started it")


class MonitorView(_Session):
    """A supervisor's session on an agent's live call."""

    state: Literal["ringing", "active"] = Field(
        description="ringing: the supervisor's device rings; active: answered, listening"
    )


class MonitorList(BaseModel):
    model_config = STRICT

    monitors: list[MonitorView]
    count: int


class MonitorEnded(_Session):
    """The session as it was when it ended."""

    state: Literal["ended"]
    reason: Literal["stopped"]
