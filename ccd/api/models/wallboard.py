"""The wallboard as ``GET /api/v1/wallboard`` answers it and its websocket pushes it
(``ccd.wallboard.view.build_board``). No caller numbers: a wall screen is seen by
everyone on the floor."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True)
LOCAL_TIME = "ISO 8601 with the server's local offset"


class HourMark(BaseModel):
    model_config = STRICT

    at: str = Field(description=LOCAL_TIME)
    label: str = Field(description="the chart's label, e.g. 03h; the day's end is 24h")


class AgentsByState(BaseModel):
    model_config = STRICT

    available: int
    reserved: int
    on_call: int
    wrap_up: int
    paused: int


class QueueTile(BaseModel):
    """Today's figures of a queue (since the host's local midnight)."""

    model_config = STRICT

    id: str
    name: str
    running: bool = Field(description="false: configured but not running in the ACD")
    waiting: int = Field(description="callers waiting now")
    longest_wait_s: float = Field(description="the longest wait of a caller waiting now, seconds")
    service_level_pct: float | None = Field(description="null before the first caller")
    service_level_s: float = Field(description="the queue's answer threshold, seconds")
    target_pct: float = Field(description="% to answer within service_level_s")
    meets_target: bool | None = Field(
        description="service_level_pct >= target_pct; null before the first caller"
    )
    offered: int
    answered: int
    abandoned: int
    abandon_rate_pct: float | None = Field(description="null before the first caller")
    agents: AgentsByState = Field(description="logged-in agents of the queue by state")
    agents_logged_in: int


class AgentRow(BaseModel):
    """A logged-in agent."""

    model_config = STRICT

    id: str
    name: str
    status: Literal["available", "reserved", "on_call", "wrap_up", "paused"]
    reason: str | None = Field(description="the pause reason")
    since: str = Field(description="ISO 8601, UTC: when the agent entered this state")
    in_state_s: float = Field(description="seconds in this state")
    call_id: str | None
    call_queue: str | None = Field(description="the queue the current call came through")
    queues: list[str]
    calls_taken: int = Field(description="today")
    pause_over_limit: bool
    server: str = Field(
        description="the Asterisk server the agent's device is on: its own server, else the"
        " first configured one ('default' with one [ami])"
    )


class Board(BaseModel):
    model_config = STRICT

    type: Literal["wallboard"]
    generated_at: str = Field(description="ISO 8601, UTC")
    day_start: str = Field(description=LOCAL_TIME + ": the local midnight today started at")
    day_end: str = Field(description=LOCAL_TIME + ": the next local midnight")
    hour_marks: list[HourMark]
    queues: list[QueueTile] = Field(description="by queue id")
    agents: list[AgentRow] = Field(description="logged-in agents, by agent id")
