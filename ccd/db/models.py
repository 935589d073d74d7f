"""Tables. Every table ccd owns is declared on ``Base`` (and so on ``metadata``), which
Alembic's env.py uses; constraint names follow one convention so migrations can name them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
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
    # Migration 0012: NULL never expires; where the last successful use came from.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_from: Mapped[str | None] = mapped_column(String(64))


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
    # The configured Asterisk server the call was on (0014_cdr_server); rows written
    # before it were all on the one server, named "default".
    server: Mapped[str] = mapped_column(String(32), index=True, server_default="default")


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
    # The [[asterisk]] server the agent's device is on (0015_agent_server); NULL: the
    # default (first configured) server.
    server: Mapped[str | None] = mapped_column(String(32))


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
    survey_flow: Mapped[str | None] = mapped_column(String(64))  # post-call survey (0010)
    # Which calls are recorded (0008; ccd.recording.policy): all, none or percent.
    recording_mode: Mapped[str] = mapped_column(String(8), server_default="none")
    recording_percent: Mapped[int] = mapped_column(Integer, server_default="0")
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


# --- outbound dialer: campaigns, contacts, attempts, do-not-call -------------------------


class DialerCampaignRow(Base):
    """The fields of ``ccd.dialer.model.Campaign``: windows, retries, holidays, agents and
    dispositions as JSON, enums by value."""

    __tablename__ = "dialer_campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    caller_id: Mapped[str] = mapped_column(String(80))
    agent_ids: Mapped[list[str]] = mapped_column(JSON)
    queue_id: Mapped[str | None] = mapped_column(String(64))
    # [{"days": [0, 1, ...], "start": "08:00:00", "end": "21:00:00"}, ...]
    windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    holidays: Mapped[list[str]] = mapped_column(JSON)  # ISO dates
    ring_timeout_s: Mapped[float] = mapped_column(Float)
    # {"no-answer": {"delay_s": 3600.0, "max_attempts": 3}, ...}
    retries: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSON)
    abandon_cap_pct: Mapped[float] = mapped_column(Float)
    cap_override: Mapped[bool] = mapped_column(Boolean)
    amd: Mapped[str] = mapped_column(String(16))
    safe_harbor_prompt: Mapped[str | None] = mapped_column(String(200))
    machine_message_prompt: Mapped[str | None] = mapped_column(String(200))
    dispositions: Mapped[list[str]] = mapped_column(JSON)
    default_region: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(16))
    # Which calls are recorded (0008; ccd.recording.policy): all, none or percent.
    recording_mode: Mapped[str] = mapped_column(String(8), server_default="none")
    recording_percent: Mapped[int] = mapped_column(Integer, server_default="0")
    # The [[asterisk]] server the campaign dials through (0016_campaign_server); NULL:
    # the default (first configured) server.
    server: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DialerContactRow(Base):
    """One callee of a campaign. ``id`` is derived from (campaign, number), so an import
    that meets an existing contact inserts nothing. A contact is due when its status is
    ``pending`` and ``next_attempt_at`` has come."""

    __tablename__ = "dialer_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number", name="uq_dialer_contacts_campaign_id_number"),
        # "The next contacts to dial for campaign X now".
        Index("ix_dialer_contacts_due", "campaign_id", "status", "next_attempt_at"),
        # DNC additions look the number up across campaigns.
        Index("ix_dialer_contacts_number", "number"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("dialer_campaigns.id", ondelete="CASCADE")
    )
    number: Mapped[str] = mapped_column(String(32))  # E.164
    name: Mapped[str] = mapped_column(String(200))
    time_zones: Mapped[list[str]] = mapped_column(JSON)
    fields: Mapped[dict[str, str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    callback_owner: Mapped[str | None] = mapped_column(String(64))  # agent id, None: anyone
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The next attempt is a call back the customer agreed to (copied onto the attempt).
    call_back: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    done_reason: Mapped[str | None] = mapped_column(String(16))  # retries.DoneReason value
    last_outcome: Mapped[str | None] = mapped_column(String(16))  # Outcome value


class DialerAttemptRow(Base):
    """One row per dial attempt: the evidence behind the abandonment rate. Contacts with
    attempts cannot be deleted (no cascade): the history outlives a campaign's list."""

    __tablename__ = "dialer_attempts"
    __table_args__ = (
        # The compliance report: a campaign's live-answered calls over 30 days / today.
        Index("ix_dialer_attempts_campaign_answered", "campaign_id", "answered_at"),
        # The live view: a campaign's attempts since local midnight.
        Index("ix_dialer_attempts_campaign_started", "campaign_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("dialer_contacts.id"), index=True
    )
    number: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    agent_connected_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    agent_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))  # None while in flight
    disposition: Mapped[str | None] = mapped_column(String(64))
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)  # its CDR
    safe_harbor_played: Mapped[bool] = mapped_column(Boolean)
    safe_harbor_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    amd_status: Mapped[str | None] = mapped_column(String(16))  # Asterisk's AMDSTATUS
    # The AMI ActionID / ChannelId the call was placed with: finds it again after a restart.
    action_id: Mapped[str | None] = mapped_column(String(64), index=True)
    call_back: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class DialerDncRow(Base):
    """A do-not-call entry: ``campaign_id`` None is the global list. Unique per list (two
    partial indexes, as NULLs are distinct in a plain unique constraint); both lead with
    the number, which is how dial-time checks look entries up."""

    __tablename__ = "dialer_dnc"
    __table_args__ = (
        Index(
            "uq_dialer_dnc_global_number",
            "number",
            unique=True,
            sqlite_where=text("campaign_id IS NULL"),
            postgresql_where=text("campaign_id IS NULL"),
        ),
        Index(
            "uq_dialer_dnc_number_campaign_id",
            "number",
            "campaign_id",
            unique=True,
            sqlite_where=text("campaign_id IS NOT NULL"),
            postgresql_where=text("campaign_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32))  # E.164
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    source: Mapped[str] = mapped_column(String(200))  # "import:list.csv", "api", "disposition"


class AuditEventRow(Base):
    """Who did what to which object, when: playbacks, monitoring sessions, changes."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target", "target_kind", "target_id"),)

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor_token_id: Mapped[str] = mapped_column(String(64), index=True)
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_agent_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_kind: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class SurveyResponseRow(Base):
    """One question of a post-call survey: its score 1..5, or NULL when the caller was asked
    and gave no valid answer. ``linkedid`` is the call's CDR; one row per call and question
    (a retried write cannot store an answer twice)."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        CheckConstraint("score IS NULL OR (score >= 1 AND score <= 5)", name="score_range"),
        UniqueConstraint("linkedid", "question"),
    )

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str | None] = mapped_column(String(80))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(String(64))
    score: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class QaFormRow(Base):
    """An evaluation form: its id, name and latest version (``qa_form_versions``)."""

    __tablename__ = "qa_forms"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class QaFormVersionRow(Base):
    """One version of a form's sections and questions; never changed once written, so an
    evaluation always scores against the questions it was made with."""

    __tablename__ = "qa_form_versions"

    form_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("qa_forms.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))  # token id


class QaEvaluationRow(Base):
    """One scored call. The CDR's agent, queue, campaign and recording are copied when it
    is made; ``score_pct`` is None when every answer is N/A (reports read it from here)."""

    __tablename__ = "qa_evaluations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["form_id", "form_version"],
            ["qa_form_versions.form_id", "qa_form_versions.version"],
            name="fk_qa_evaluations_form_id_qa_form_versions",
        ),
    )

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    queue: Mapped[str | None] = mapped_column(String(80))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    recording_ref: Mapped[str | None] = mapped_column(String(500))
    form_id: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[int] = mapped_column(Integer)
    score_pct: Mapped[float | None] = mapped_column(Float)
    critical_failed: Mapped[bool] = mapped_column(Boolean)
    comments: Mapped[str] = mapped_column(String(4000))
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    evaluator_token_id: Mapped[str] = mapped_column(String(64))
    evaluator_role: Mapped[str] = mapped_column(String(16))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledgement_comment: Mapped[str | None] = mapped_column(String(2000))


class QaAnswerRow(Base):
    """One answer of an evaluation: ``answer`` is yes, no, na or the scale value;
    ``score_pct`` that question's own percentage (None for N/A)."""

    __tablename__ = "qa_answers"

    evaluation_id: Mapped[int] = mapped_column(
        AutoIncrementId, ForeignKey("qa_evaluations.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[str] = mapped_column(String(8))
    score_pct: Mapped[float | None] = mapped_column(Float)


class RecordingRow(Base):
    """One recorded call (ccd.recording): its audio file, who and what it belongs to, the
    PCI pauses (``[{"start": iso, "end": iso | null}]``) and, once retention removed the
    file, ``deleted_at`` (the row stays: CDRs keep pointing at it)."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(150), index=True)
    channel: Mapped[str] = mapped_column(String(200))  # the customer's channel recorded
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    queue_id: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    file: Mapped[str] = mapped_column(String(200))  # name inside [recording] directory
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The [[asterisk]] server that wrote the file (0017_recording_server): playback and
    # retention read that server's directory. NULL: the default (first) server.
    server: Mapped[str | None] = mapped_column(String(32))


class WebhookSubscriptionRow(Base):
    """A webhook subscription (ccd.webhooks): where to send which events, signed with
    ``secret`` (``whsec_`` + base64; never shown again after creation)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookDeliveryRow(Base):
    """The webhook outbox: one row per event and subscription, written with the change
    that caused it (a CDR's row in the CDR's transaction). ``seq`` is outbox order; ``id``
    is the ``webhook-id`` sent on every attempt; ``status`` pending, delivered or dead;
    ``window_start`` when its 24 h of retries began (creation, or a replay)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "dedupe_key"),
        Index("ix_webhook_deliveries_pending", "subscription_id", "status", "seq"),
    )

    seq: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    subscription_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(64))
    order_key: Mapped[str] = mapped_column(String(200))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(String())
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    latency_ms: Mapped[float | None] = mapped_column(Float)


class LeadershipRow(Base):
    """High availability (ccd.ha): one row, id 1. ``epoch`` grows with every new leader;
    ``lease_until`` is when the current leader's lease ends unless renewed."""

    __tablename__ = "leadership"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str | None] = mapped_column(String(200))
    api_url: Mapped[str | None] = mapped_column(String(500))
    acquired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
