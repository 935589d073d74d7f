"""The ACD as the API shows it: agents, queues, pause reasons, agent actions and the
agent session log (``ccd.api.acd`` builds the views; these models are their contract).

The ``live`` parts are the running ACD's own views (``AcdLive.agent_live`` /
``queue_live``, also the websocket snapshot's ``acd``): they are validated into
``AgentLive`` / ``QueueLive`` before they are answered, so a view that drifts from this
contract fails the tests instead of the document lying.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from ccd.acd.model import AgentStatus, Strategy

STRICT = ConfigDict(extra="forbid", frozen=True)
IdPattern = r"^[A-Za-z0-9_.-]{1,64}$"
AgentAction = Literal["login", "logout", "pause", "unpause", "join", "leave"]
CallbackKey = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _only_while_paused(description: str) -> Any:
    """A member present only while the agent is paused (absent, never null, otherwise)."""
    return Field(
        default=None,
        exclude_if=lambda value: value is None,
        description=description + " Present only while paused.",
        json_schema_extra=_drop_default,
    )


# --- live views ------------------------------------------------------------------------


class AgentLive(BaseModel):
    """A logged-in agent's state now (null instead of this object: logged out)."""

    model_config = STRICT

    status: AgentStatus
    since: str = Field(description="when the agent entered this status, ISO 8601")
    in_state_s: float = Field(description="seconds in this status, to 0.1 s")
    reason: str | None = Field(description="the pause reason code while paused")
    call_id: str | None = Field(description="the call being offered or handled")
    queues: list[str] = Field(description="queues the agent takes calls from now")
    calls_taken: int = Field(description="calls answered since login")
    talk_s: float = Field(description="talk time since login, seconds")
    pending_pause: str | None = Field(
        description="pause reason to apply when the current call ends"
    )
    logout_pending: bool = Field(description="the agent logs out when the current call ends")
    server: str = Field(
        description="the Asterisk server the agent's device is on: its own server, else the"
        " first configured one ('default' with one [ami]); it is offered only callers there"
    )
    billable: bool | SkipJsonSchema[None] = _only_while_paused("The pause reason is billable.")
    pause_over_limit: bool | SkipJsonSchema[None] = _only_while_paused(
        "Paused longer than the reason's time limit (flagged, never ended automatically)."
    )


class WaitingCaller(BaseModel):
    model_config = STRICT

    call_id: str
    position: int = Field(description="1-based place in line (priority, then join time)")
    waited_s: float = Field(description="seconds since the caller joined, to 0.1 s")
    priority: int
    caller_num: str | None = Field(
        description="the caller's number as it arrived (may be empty); null: not known to ccd"
    )
    callback: bool = Field(description="waiting for a call back (virtual hold), no channel")
    ringing: list[str] = Field(description="agents being rung for this caller")
    server: str = Field(
        description="the Asterisk server the caller is on ('default' with one [ami]);"
        " only agents on it are offered the caller"
    )


class QueueLive(BaseModel):
    """A loaded queue now; today's counters restart at local midnight."""

    model_config = STRICT

    queue_id: str
    offered: int
    answered: int
    answered_within_sl: int = Field(description="answered within service_level_s")
    abandoned: int
    abandoned_within_sl: int = Field(description="abandoned before service_level_s")
    overflowed: int
    timed_out: int
    escalated: int
    callbacks: int
    callbacks_dropped: int
    total_wait_answered_s: float = Field(description="summed wait of answered callers, s")
    waiting: int = Field(description="callers waiting now")
    longest_wait_s: float = Field(description="wait of the longest-waiting caller now, s")
    agents: dict[str, int] = Field(description="agent status -> agents of the queue in it")
    service_level_s: float = Field(description="the service level's answer threshold, s")
    service_level: float | None = Field(
        description="answered within service_level_s / (answered + abandoned after it),"
        " 0..1; null before any outcome"
    )
    asa_s: float | None = Field(description="average speed of answer; null before an answer")
    aht_s: float = Field(description="recent average handle time (talk + wrap-up), s")
    callers: list[WaitingCaller] = Field(description="waiting callers in service order")
    agents_by_id: dict[str, AgentStatus] = Field(description="member agent id -> status")


# --- configuration ---------------------------------------------------------------------


class AgentView(BaseModel):
    model_config = STRICT

    id: str = Field(pattern=IdPattern)
    name: str
    interface: str = Field(description="what Originate dials: PJSIP/1001, Local/1001@ctx")
    skills: dict[str, int] = Field(description="skill -> level 1..10")
    max_calls: int = Field(description="calls the agent handles at once (1)")
    queues: list[str] = Field(description="queues joined at login")
    server: str | None = Field(
        description="the [[asterisk]] server the agent's device is on; null: the first"
        " configured one. The agent is offered only callers waiting on that server"
    )
    created_at: str = Field(description="ISO 8601")
    updated_at: str = Field(description="ISO 8601")
    live: AgentLive | None = Field(
        description="null: logged out, or the ACD does not run in this process"
    )


class AgentList(BaseModel):
    model_config = STRICT

    agents: list[AgentView]


class QueueView(BaseModel):
    """A queue's settings (the fields of ``QueueFields``, see the README) and ``live``."""

    model_config = STRICT

    id: str = Field(pattern=IdPattern)
    name: str
    strategy: Strategy
    required_skills: dict[str, int] = Field(description="skill -> minimum level an agent needs")
    ring_timeout_s: float = Field(description="seconds an agent rings before the next one")
    wrapup_s: float = Field(description="seconds of wrap-up after each call")
    max_wait_s: float | None = Field(description="then overflow_target; null: no limit")
    max_len: int | None = Field(description="callers waiting at most; null: no limit")
    overflow_target: str | None = Field(
        description="where callers go past max_wait_s or max_len: queue:<id>,"
        " voicemail:<box>[@<context>], transfer:<context>,<exten>, callback or hangup;"
        " null: hang up"
    )
    no_agents_target: str | None = Field(
        description="where callers go when nobody is logged in (same forms); null: overflow_target"
    )
    service_level_s: float = Field(description="the service level's answer threshold, s")
    max_no_answer: int = Field(description="missed rings in a row before an auto-pause")
    escalate_after_s: float | None = Field(description="wait before the escalation; null: none")
    escalated_skills: dict[str, int] = Field(description="required skills after escalation")
    escalate_to_queue: str | None = Field(description="queue the caller moves to at escalation")
    announce_position: bool
    announce_hold_time: bool
    announce_every_s: float = Field(description="seconds between announcements")
    callback_key: CallbackKey | None = Field(
        description="the DTMF key that asks for a call back; null: no call back"
    )
    survey_flow: str | None = Field(description="the post-call survey's IVR flow id; null: none")
    created_at: str = Field(description="ISO 8601")
    updated_at: str = Field(description="ISO 8601")
    live: QueueLive | None = Field(
        description="null: not loaded by the ACD, or the ACD does not run in this process"
    )


class QueueList(BaseModel):
    model_config = STRICT

    queues: list[QueueView]


class PauseReasonView(BaseModel):
    model_config = STRICT

    code: str = Field(pattern=IdPattern)
    label: str
    billable: bool
    time_limit_s: float | None = Field(description="flagged past this many seconds; null: none")


class PauseReasonList(BaseModel):
    model_config = STRICT

    pause_reasons: list[PauseReasonView]


# --- agent actions and the session log -------------------------------------------------


class AgentActionDone(BaseModel):
    model_config = STRICT

    agent_id: str
    action: AgentAction
    live: AgentLive | None = Field(description="the agent's state after the action")


class SessionView(BaseModel):
    """The agent entered ``status`` at ``at``."""

    model_config = STRICT

    status: AgentStatus
    reason: str | None = Field(description="pause reason code; null outside a pause")
    call_id: str | None
    queue_ids: list[str]
    at: str = Field(description="ISO 8601")


class SessionLog(BaseModel):
    model_config = STRICT

    agent_id: str
    sessions: list[SessionView] = Field(description="oldest first")
    limit: int
    truncated: bool = Field(
        description="limit rows returned: more may follow (ask again with from = last at)"
    )


# --- paths -----------------------------------------------------------------------------


class AgentPath(BaseModel):
    id: str = Field(pattern=IdPattern, description="an agent id (no such id: 404)")


class AgentQueuePath(AgentPath):
    queue_id: str = Field(pattern=IdPattern, description="a queue id (no such id: 404)")


class QueuePath(BaseModel):
    id: str = Field(pattern=IdPattern, description="a queue id (no such id: 404)")


class PauseReasonPath(BaseModel):
    code: str = Field(pattern=IdPattern, description="a pause reason code (no such code: 404)")
