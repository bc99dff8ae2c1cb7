"""Database tables: every row belongs to one organization (tenant)."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import JSON, Column, Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def ts_field(*, nullable: bool = True, index: bool = False, default_now: bool = False) -> Any:
    kwargs: dict[str, Any] = {}
    if default_now:
        kwargs["default_factory"] = utcnow
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index), **kwargs)


def json_field(default_factory: Any) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"


class CallStatus(StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"


class CallOutcome(StrEnum):
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class LegRole(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"


class Consent(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class DncSource(StrEnum):
    MANUAL = "manual"
    UPLOAD = "upload"
    LEAD_STATUS = "lead-status"


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    default_region: str = Field(default="IN", max_length=2)
    timezone: str = Field(default="Asia/Kolkata", max_length=64)
    # The callee's local calling window, "HH:MM" in the callee's own time zone(s).
    calling_window_start: str = Field(default="09:00", max_length=5)
    calling_window_end: str = Field(default="21:00", max_length=5)
    # Dial attempts per lead per day (in the organization's time zone); None: no cap.
    max_daily_attempts: int | None = Field(default=3)
    # Wrap-up: seconds before the agent is made available again; None: no limit.
    wrapup_limit_s: int | None = Field(default=60)
    # True: the agent stays in wrap-up until a disposition is recorded, whatever the limit.
    wrapup_requires_disposition: bool = False
    # [{"key", "label", "terminal"?}] in funnel order; empty: the built-in defaults.
    lead_statuses: list[dict[str, Any]] = json_field(list)
    # [{"key", "label", "lead_status"?, "dnc"?, "follow_up"?}]; empty: the built-in defaults.
    dispositions: list[dict[str, Any]] = json_field(list)
    # [{"key", "label"}]; empty: the built-in defaults.
    pause_reasons: list[dict[str, Any]] = json_field(list)
    # The optional text after a missed call ({"enabled", "to", templates}); empty: off.
    missed_call_sms: dict[str, Any] = json_field(dict)
    created_at: datetime = ts_field(nullable=False, default_now=True)


class Team(SQLModel, table=True):
    __tablename__ = "team"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=200)
    # Outbound caller ID for the team's agents (unless an agent has their own).
    caller_id_number_id: int | None = Field(default=None, foreign_key="carrier_number.id")
    created_at: datetime = ts_field(nullable=False, default_now=True)


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    phone: str | None = Field(default=None, max_length=20)
    phone_key: str | None = Field(default=None, max_length=64, index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    # Assignment attributes: skills and languages (free tags), territories (ISO country
    # codes or "IN-Maharashtra"-style regions), a weight for weighted rules, a cap of open leads.
    skills: list[str] = json_field(list)
    languages: list[str] = json_field(list)
    territories: list[str] = json_field(list)
    weight: int = 1
    max_open_leads: int | None = None
    # A cap of leads given to the agent per day (the organization's day); None: none.
    max_daily_leads: int | None = None
    # Shift in the organization's time zone ("HH:MM"); None: always on shift.
    shift_start: str | None = Field(default=None, max_length=5)
    shift_end: str | None = Field(default=None, max_length=5)
    caller_id_number_id: int | None = Field(default=None, foreign_key="carrier_number.id")
    created_at: datetime = ts_field(nullable=False, default_now=True)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    expires_at: datetime = ts_field(nullable=False)


class Lead(SQLModel, table=True):
    __tablename__ = "lead"
    __table_args__ = (
        # The leads funnel of a period; also every lookup by organization alone.
        sa.Index("ix_lead_org_created", "org_id", "created_at"),
        # Columns empty on most leads are indexed where they are set, which is all that
        # their lookups (`= value`, ranges) read: an import of new leads then adds nothing
        # to these indexes.
        *(
            sa.Index(f"ix_lead_{c}", c, sqlite_where=sa.text(w), postgresql_where=sa.text(w))
            for c, w in (
                ("team_id", "team_id IS NOT NULL"),
                ("next_follow_up_at", "next_follow_up_at IS NOT NULL"),
                ("merged_into_id", "merged_into_id IS NOT NULL"),
            )
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    name: str = Field(default="", max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str = Field(max_length=20)
    alt_phones: list[str] = json_field(list)
    address: str | None = Field(default=None, max_length=500)
    status: str = Field(default="new", max_length=32, index=True)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    source: str | None = Field(default=None, max_length=64)
    tags: list[str] = json_field(list)
    custom_fields: dict[str, Any] = json_field(dict)
    # Consent to be called (Consent values); None: never recorded either way.
    consent: str | None = Field(default=None, max_length=16)
    consent_at: datetime | None = ts_field()
    # Derived from the primary number: ISO country, geographic description, time zone.
    country: str | None = Field(default=None, max_length=2)
    region: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    attempts: int = 0
    last_called_at: datetime | None = ts_field()
    next_follow_up_at: datetime | None = ts_field()
    assigned_at: datetime | None = ts_field()
    # Set on the losing side of a merge; such a lead is hidden from lists.
    merged_into_id: int | None = Field(default=None, foreign_key="lead.id")
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class LeadStatusChange(SQLModel, table=True):
    """The status history of a lead."""

    __tablename__ = "lead_status_change"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    lead_id: int = Field(foreign_key="lead.id", index=True)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str = Field(max_length=32)
    changed_by: int | None = Field(default=None, foreign_key="user_account.id")
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = ts_field(nullable=False, default_now=True)


class LeadNote(SQLModel, table=True):
    __tablename__ = "lead_note"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    lead_id: int = Field(foreign_key="lead.id", index=True)
    call_id: int | None = Field(default=None, foreign_key="call.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="user_account.id")
    body: str = Field(sa_column=Column(sa.Text, nullable=False))
    created_at: datetime = ts_field(nullable=False, default_now=True)


class Disposition(SQLModel, table=True):
    """What an agent recorded after a call (one per call; lead-level ones have no call)."""

    __tablename__ = "disposition"
    __table_args__ = (sa.Index("ix_disposition_org_created", "org_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    lead_id: int = Field(foreign_key="lead.id", index=True)
    call_id: int | None = Field(default=None, foreign_key="call.id", unique=True)
    agent_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    code: str = Field(max_length=32)
    notes: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    created_at: datetime = ts_field(nullable=False, default_now=True)


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELED = "canceled"


class FollowUp(SQLModel, table=True):
    __tablename__ = "follow_up"
    __table_args__ = (sa.Index("ix_follow_up_status_due", "status", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    lead_id: int = Field(foreign_key="lead.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    call_id: int | None = Field(default=None, foreign_key="call.id")
    due_at: datetime = ts_field(nullable=False)
    # The zone the time was given in (the lead's local zone unless stated).
    timezone: str = Field(max_length=64)
    note: str | None = Field(default=None, max_length=1000)
    status: str = Field(default=FollowUpStatus.OPEN, max_length=16)
    notified_at: datetime | None = ts_field()
    completed_at: datetime | None = ts_field()
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = ts_field(nullable=False, default_now=True)


class AssignmentRule(SQLModel, table=True):
    """One rule of an organization's (or team's) ordered auto-assignment policy."""

    __tablename__ = "assignment_rule"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    position: int = 0
    # round_robin | least_loaded | weighted | territory | skill | sticky
    kind: str = Field(max_length=32)
    config: dict[str, Any] = json_field(dict)
    # Round-robin's cursor: the last agent this rule chose (updated under a row lock).
    last_agent_id: int | None = Field(default=None, foreign_key="user_account.id")
    is_active: bool = True
    created_at: datetime = ts_field(nullable=False, default_now=True)


class LeadAssignment(SQLModel, table=True):
    """Why a lead went to an agent: every assignment, automatic or manual, audited."""

    __tablename__ = "lead_assignment"
    # An agent's assignments; the rows of leads left unassigned (agent_id NULL) stay out.
    __table_args__ = (
        sa.Index(
            "ix_lead_assignment_agent_id",
            "agent_id",
            sqlite_where=sa.text("agent_id IS NOT NULL"),
            postgresql_where=sa.text("agent_id IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    lead_id: int = Field(foreign_key="lead.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="user_account.id")
    previous_agent_id: int | None = Field(default=None, foreign_key="user_account.id")
    rule_id: int | None = Field(default=None, foreign_key="assignment_rule.id")
    # auto | manual | bulk | import
    method: str = Field(max_length=16)
    rule_kind: str | None = Field(default=None, max_length=32)
    reason: str = Field(max_length=500)
    # [{"agent_id", "eligible", "reason"}] for every candidate considered.
    candidates: list[dict[str, Any]] = json_field(list)
    assigned_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = ts_field(nullable=False, default_now=True)


class PresenceState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    ON_CALL = "on-call"
    WRAP_UP = "wrap-up"
    PAUSED = "paused"


class AgentPresence(SQLModel, table=True):
    """An agent's current state (one row per agent)."""

    __tablename__ = "agent_presence"
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    state: str = Field(default=PresenceState.OFFLINE, max_length=16)
    reason: str | None = Field(default=None, max_length=64)
    since: datetime = ts_field(nullable=False, default_now=True)
    call_id: int | None = Field(default=None, foreign_key="call.id")
    progressive: bool = False
    last_seen_at: datetime | None = ts_field()
    # Progressive dialing's pending offer: the lead to dial at `next_dial_at` unless the agent
    # skips or cancels it first. Kept here, not in a process, so that any process dials it
    # (once: whoever clears `next_token` first) when the one that made it has gone.
    next_token: str | None = Field(default=None, max_length=32)
    next_lead_id: int | None = None
    next_dial_at: datetime | None = ts_field(index=True)
    next_skipped: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class PresenceEvent(SQLModel, table=True):
    """Every presence interval of an agent (the reports' working hours)."""

    __tablename__ = "presence_event"
    __table_args__ = (
        sa.Index("ix_presence_event_org_started", "org_id", "started_at"),
        # The working-hours report: intervals that end after a period starts (or never ended).
        sa.Index("ix_presence_event_org_ended", "org_id", "ended_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    user_id: int = Field(foreign_key="user_account.id", index=True)
    state: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=64)
    started_at: datetime = ts_field(nullable=False)
    ended_at: datetime | None = ts_field()


class ImportJob(SQLModel, table=True):
    """A bulk lead import: the uploaded file, its options, progress and a resumable checkpoint."""

    __tablename__ = "import_job"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    # queued | running | completed | failed
    status: str = Field(default="queued", max_length=16)
    filename: str | None = Field(default=None, max_length=255)
    # Where the uploaded file is kept until the job ends (under the data directory).
    source_path: str = Field(max_length=1000)
    options: dict[str, Any] = json_field(dict)
    total_rows: int | None = None
    processed_rows: int = 0
    created_count: int = 0
    updated_count: int = 0
    merged_count: int = 0
    skipped_count: int = 0
    error_count: int = 0
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    started_at: datetime | None = ts_field()
    finished_at: datetime | None = ts_field()


class ImportRowIssue(SQLModel, table=True):
    """One row of an import that was not imported as given, and why."""

    __tablename__ = "import_row_issue"
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="import_job.id", index=True)
    row_number: int
    # invalid_phone | duplicate_in_file | exists_skipped | exists_updated | exists_merged |
    # dnc_suppressed | missing_field | ...
    code: str = Field(max_length=32)
    field: str | None = Field(default=None, max_length=64)
    message: str = Field(max_length=500)
    lead_id: int | None = None


class WebhookSubscription(SQLModel, table=True):
    """An integration's URL subscribed to event types, with its Standard Webhooks secret."""

    __tablename__ = "webhook_subscription"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    url: str = Field(max_length=2048)
    events: list[str] = json_field(list)
    secret: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=200)
    is_active: bool = True
    created_at: datetime = ts_field(nullable=False, default_now=True)


class WebhookDelivery(SQLModel, table=True):
    """One event to one subscription: attempts, backoff and the receiver's last answer."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_delivery_event"),
        sa.Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    subscription_id: int = Field(foreign_key="webhook_subscription.id", index=True)
    event_id: int = Field(foreign_key="integration_event.id")
    event_type: str = Field(max_length=64)
    # pending | succeeded | failed (will retry) | dead (gave up)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = ts_field()
    last_status_code: int | None = None
    last_response: str | None = Field(default=None, max_length=2000)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    delivered_at: datetime | None = ts_field()


class LeadPhone(SQLModel, table=True):
    """One row per number of a lead; matching goes through `phone_key` only."""

    __tablename__ = "lead_phone"
    __table_args__ = (sa.Index("ix_lead_phone_org_key", "org_id", "phone_key"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    lead_id: int = Field(foreign_key="lead.id", index=True)
    phone_key: str = Field(max_length=64)
    is_primary: bool = False


class DncEntry(SQLModel, table=True):
    """A number the organization must not call; matched through `phone_key` only."""

    __tablename__ = "dnc_entry"
    __table_args__ = (sa.Index("ix_dnc_entry_org_key", "org_id", "phone_key", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    phone_key: str = Field(max_length=64)
    # Kept so that admins can read the list; never used for matching.
    e164: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=500)
    source: str = Field(default=DncSource.MANUAL, max_length=16)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = ts_field(nullable=False, default_now=True)


class CarrierAccount(SQLModel, table=True):
    __tablename__ = "carrier_account"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    carrier: str = Field(max_length=32)
    name: str = Field(default="", max_length=200)
    credentials: dict[str, Any] = json_field(dict)
    # The carrier's calls-per-second limit for this account; None: no pacing.
    calls_per_second: float | None = None
    is_active: bool = True
    created_at: datetime = ts_field(nullable=False, default_now=True)


class CarrierNumber(SQLModel, table=True):
    __tablename__ = "carrier_number"
    __table_args__ = (sa.Index("ix_carrier_number_org_key", "org_id", "phone_key"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    account_id: int = Field(foreign_key="carrier_account.id", index=True)
    e164: str = Field(max_length=20)
    phone_key: str = Field(max_length=64)


class Call(SQLModel, table=True):
    __tablename__ = "call"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "carrier_call_id", name="uq_call_account_carrier_id"),
        sa.Index("ix_call_org_created", "org_id", "id"),
        # The reports: a period of the organization, of a team or of an agent, and the later
        # calls to the same lead or number (callbacks).
        sa.Index("ix_call_org_created_at", "org_id", "created_at"),
        sa.Index("ix_call_org_team_created_at", "org_id", "team_id", "created_at"),
        sa.Index("ix_call_agent_created_at", "agent_id", "created_at"),
        sa.Index("ix_call_lead_direction_created_at", "lead_id", "direction", "created_at"),
        sa.Index(
            "ix_call_org_to_number_direction_created_at",
            "org_id",
            "to_number",
            "direction",
            "created_at",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    account_id: int | None = Field(default=None, foreign_key="carrier_account.id")
    carrier: str = Field(max_length=32)
    carrier_call_id: str | None = Field(default=None, max_length=128)
    direction: str = Field(max_length=16)
    from_number: str | None = Field(default=None, max_length=32)
    to_number: str | None = Field(default=None, max_length=32)
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)
    lead_match: str = Field(default="none", max_length=16)
    agent_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    # Dialgate bridged it: the agent's phone is dialed first, then the lead (two legs).
    bridged: bool = False
    status: str = Field(default=CallStatus.QUEUED, max_length=16, index=True)
    outcome: str | None = Field(default=None, max_length=16)
    end_reason: str | None = Field(default=None, max_length=64)
    started_at: datetime | None = ts_field(index=True)
    answered_at: datetime | None = ts_field()
    ended_at: datetime | None = ts_field()
    duration_s: int | None = None
    recording_url: str | None = Field(default=None, max_length=1000)
    # Set when the outcome came from reconciliation (the carrier's records), not a callback.
    reconciled_at: datetime | None = ts_field()
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True, index=True)


class CallLeg(SQLModel, table=True):
    __tablename__ = "call_leg"
    __table_args__ = (sa.UniqueConstraint("call_id", "role", name="uq_call_leg_role"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    call_id: int = Field(foreign_key="call.id", index=True)
    role: str = Field(max_length=16)
    carrier_leg_id: str | None = Field(default=None, max_length=128, index=True)
    number: str | None = Field(default=None, max_length=32)
    status: str = Field(default=CallStatus.QUEUED, max_length=16)
    outcome: str | None = Field(default=None, max_length=16)
    started_at: datetime | None = ts_field()
    answered_at: datetime | None = ts_field()
    ended_at: datetime | None = ts_field()
    duration_s: int | None = None


class CallEventRecord(SQLModel, table=True):
    """Every event a carrier reported, normalized, with its raw payload (audit + idempotency)."""

    __tablename__ = "call_event"
    __table_args__ = (sa.UniqueConstraint("account_id", "dedupe_key", name="uq_call_event_dedupe"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    call_id: int | None = Field(default=None, foreign_key="call.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="carrier_account.id")
    carrier: str = Field(max_length=32)
    dedupe_key: str = Field(max_length=255)
    kind: str = Field(max_length=32)
    leg_role: str | None = Field(default=None, max_length=16)
    carrier_status: str | None = Field(default=None, max_length=64)
    status: str | None = Field(default=None, max_length=16)
    outcome: str | None = Field(default=None, max_length=16)
    # applied | stale | conflicting-terminal | unknown-status | local
    disposition: str = Field(max_length=32)
    occurred_at: datetime | None = ts_field()
    received_at: datetime = ts_field(nullable=False, default_now=True)
    payload: dict[str, Any] = json_field(dict)


class InboxStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"


class WebhookInbox(SQLModel, table=True):
    """Every authentic carrier request, raw and committed before the carrier gets its 2xx."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (sa.Index("ix_webhook_inbox_status_id", "status", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    account_id: int = Field(foreign_key="carrier_account.id", index=True)
    carrier: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    method: str = Field(max_length=8)
    url: str = Field(max_length=2048)
    headers: dict[str, str] = json_field(dict)
    body: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    received_at: datetime = ts_field(nullable=False, default_now=True)
    status: str = Field(default=InboxStatus.PENDING, max_length=16)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=1000)
    applied_at: datetime | None = ts_field()
    # Matches each row of a batch insert to its new id: RETURNING in parameter order costs
    # SQLite a statement per row, in any order one statement per batch.
    ingest_key: str | None = Field(default=None, max_length=32)


class IntegrationEvent(SQLModel, table=True):
    """The outbox of events for integrations, written in the transaction that caused them."""

    __tablename__ = "integration_event"
    __table_args__ = (sa.Index("ix_integration_event_org_id_id", "org_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    type: str = Field(max_length=64)
    data: dict[str, Any] = json_field(dict)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    # Set once deliveries to the subscriptions of the moment have been fanned out.
    dispatched_at: datetime | None = ts_field(index=True)
