"""Tables. Every table ccd owns is declared on ``Base`` (and so on ``metadata``), which
Alembic's env.py uses; constraint names follow one convention so migrations can name them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite would return naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: ccd stores UTC-aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = metadata


class ApiToken(Base):
    __tablename__ = "api_tokens"

    # Short public id, embedded in the token itself and shown in listings.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    # sha256 hex of the secret part; the plaintext is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CallDetailRecord(Base):
    """One row per finished call, keyed by Asterisk's linkedid (idempotent inserts)."""

    __tablename__ = "cdrs"
    # Prefix searches (LIKE 'x%') use these on PostgreSQL whatever the collation.
    __table_args__ = tuple(
        Index(
            f"ix_cdrs_{column}_prefix", column, postgresql_ops={column: "varchar_pattern_ops"}
        ).ddl_if(dialect="postgresql")
        for column in ("caller_num", "callee_num", "did")
    )

    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16), index=True)
    caller_num: Mapped[str] = mapped_column(String(80), index=True)
    caller_name: Mapped[str] = mapped_column(String(200))
    callee_num: Mapped[str] = mapped_column(String(80), index=True)
    did: Mapped[str] = mapped_column(String(80), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ring_s: Mapped[float] = mapped_column(Float)
    talk_s: Mapped[float] = mapped_column(Float)
    hold_s: Mapped[float] = mapped_column(Float)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str] = mapped_column(String(80))
    hung_up_by: Mapped[str | None] = mapped_column(String(16))
    disposition: Mapped[str] = mapped_column(String(16), index=True)
    ivr_path: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    queue: Mapped[str | None] = mapped_column(String(80), index=True)
    wait_s: Mapped[float | None] = mapped_column(Float)
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    wrapup_s: Mapped[float | None] = mapped_column(Float)
    campaign_id: Mapped[str | None] = mapped_column(String(64), index=True)
    contact_id: Mapped[str | None] = mapped_column(String(64))
    recording_ref: Mapped[str | None] = mapped_column(String(500))
    written_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CallLeg(Base):
    """One row per channel of a finished call."""

    __tablename__ = "cdr_legs"

    uniqueid: Mapped[str] = mapped_column(String(64), primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    caller_num: Mapped[str] = mapped_column(String(80))
    caller_name: Mapped[str] = mapped_column(String(200))
    connected_num: Mapped[str] = mapped_column(String(80))
    context: Mapped[str] = mapped_column(String(80))
    exten: Mapped[str] = mapped_column(String(80))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str] = mapped_column(String(80))
    dial_status: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[str | None] = mapped_column(String(64))


class AsteriskCdrRow(Base):
    """Asterisk's own Cdr events, raw, for reconciliation with ccd's records."""

    __tablename__ = "asterisk_cdrs"

    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    sequence: Mapped[str] = mapped_column(String(32), primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    fields: Mapped[dict[str, str]] = mapped_column(JSON)


# --- ACD configuration and the agent session log ------------------------------------------

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
AutoIncrementId = BigInteger().with_variant(Integer(), "sqlite")


class AcdAgentRow(Base):
    __tablename__ = "acd_agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    interface: Mapped[str] = mapped_column(String(200))
    skills: Mapped[dict[str, int]] = mapped_column(JSON)  # skill -> level 1..10
    max_calls: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AcdQueueRow(Base):
    """The fields of ``ccd.acd.model.Queue``, one column each."""

    __tablename__ = "acd_queues"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(32))
    required_skills: Mapped[dict[str, int]] = mapped_column(JSON)
    ring_timeout_s: Mapped[float] = mapped_column(Float)
    wrapup_s: Mapped[float] = mapped_column(Float)
    max_wait_s: Mapped[float | None] = mapped_column(Float)
    max_len: Mapped[int | None] = mapped_column(Integer)
    overflow_target: Mapped[str | None] = mapped_column(String(200))
    no_agents_target: Mapped[str | None] = mapped_column(String(200))
    service_level_s: Mapped[float] = mapped_column(Float)
    max_no_answer: Mapped[int] = mapped_column(Integer)
    escalate_after_s: Mapped[float | None] = mapped_column(Float)
    escalated_skills: Mapped[dict[str, int]] = mapped_column(JSON)
    escalate_to_queue: Mapped[str | None] = mapped_column(String(64))
    announce_position: Mapped[bool] = mapped_column(Boolean)
    announce_hold_time: Mapped[bool] = mapped_column(Boolean)
    announce_every_s: Mapped[float] = mapped_column(Float)
    callback_key: Mapped[str | None] = mapped_column(String(1))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AcdPauseReasonRow(Base):
    __tablename__ = "acd_pause_reasons"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    billable: Mapped[bool] = mapped_column(Boolean)
    time_limit_s: Mapped[float | None] = mapped_column(Float)


class AcdMembershipRow(Base):
    """The queues an agent joins when logging in without naming any."""

    __tablename__ = "acd_memberships"

    agent_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("acd_agents.id", ondelete="CASCADE"), primary_key=True
    )
    queue_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("acd_queues.id", ondelete="CASCADE"), primary_key=True
    )


class AcdAgentSessionRow(Base):
    """The agent session log, append only: one row per agent state change."""

    __tablename__ = "acd_agent_sessions"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(64))
    queue_ids: Mapped[list[str]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
