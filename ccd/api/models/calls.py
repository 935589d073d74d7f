"""Live calls as the API and the event stream show them (``ccd.api.serialize`` builds the
views; these models are their contract)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True)


class Party(BaseModel):
    model_config = STRICT

    number: str
    name: str


class Callee(BaseModel):
    model_config = STRICT

    number: str


class ChannelView(BaseModel):
    model_config = STRICT

    uniqueid: str
    name: str
    state: str
    state_code: int
    caller: Party
    connected: Party
    context: str
    exten: str
    bridge_id: str | None
    created_at: str = Field(description="ISO 8601, UTC")
    answered_at: str | None
    duration_s: float = Field(description="seconds since the channel was created")


class IvrStepView(BaseModel):
    model_config = STRICT

    node: str
    entered_at: str
    digits: str
    variables: dict[str, str]


class CallView(BaseModel):
    """A live call (its ``id`` is Asterisk's linkedid)."""

    model_config = STRICT

    id: str
    server: str = Field(
        description="the configured Asterisk server the call is on ('default' with one [ami])"
    )
    state: str
    started_at: str = Field(description="ISO 8601, UTC")
    answered_at: str | None
    duration_s: float = Field(description="seconds since the call started")
    ring_s: float = Field(description="seconds from start to answer (or now)")
    talk_s: float | None = Field(description="seconds since the answer; null before it")
    caller: Party
    callee: Callee
    channels: list[ChannelView]
    ivr_path: list[IvrStepView]


class CallList(BaseModel):
    model_config = STRICT

    calls: list[CallView]
    count: int


class OriginateAccepted(BaseModel):
    model_config = STRICT

    originate_id: str


class HangupAccepted(BaseModel):
    model_config = STRICT

    id: str
    status: str


class Me(BaseModel):
    model_config = STRICT

    token_id: str
    role: str
    agent_id: str | None


class Health(BaseModel):
    model_config = STRICT

    status: str
    version: str


class HaLeader(BaseModel):
    model_config = STRICT

    instance: str
    api_url: str | None = Field(description="its [ha] api_url; null when not set")
    epoch: int


class HaState(BaseModel):
    """This instance in a high-availability pair (``[ha] enabled``)."""

    model_config = STRICT

    role: Literal["standby", "taking_over", "active", "fenced"]
    instance: str
    epoch: int | None = Field(description="the leadership epoch it holds; null on a standby")
    leader: HaLeader | None = Field(description="the active instance as last seen, if another")


class Ready(BaseModel):
    model_config = STRICT

    status: str
    ha: HaState | None = Field(default=None, description="present only with [ha] enabled")
