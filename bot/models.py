"""The stored entities of a paired learning programme (SQLAlchemy 2 ORM).

Alembic migrations in bot/migrations create these tables; the models are the single source of their
shape. Times are stored in UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Optional[datetime], dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


TITLES = {"dr", "prof", "professor", "mr", "mrs", "ms", "miss", "mx", "nurse", "sister", "sir", "dame"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Organisation(Base):
    """A platform install: a Slack workspace, a Teams tenant, or the console."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("platform", "workspace"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # "21:00-08:00": when nudges, reminders and digests wait for morning; "" is Pairbot's default.
    quiet_hours: Mapped[str] = mapped_column(String(20), default="")
    # Whose bank holidays it follows: England, Wales, Scotland or Northern Ireland; "" is the
    # config's [organisation] nation (England unless it says otherwise).
    nation: Mapped[str] = mapped_column(String(20), default="")


class Person(Base):
    """Someone the bot can reach, across cohorts (so an earlier buddy can be recognised)."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[Optional[str]] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # Their own quiet hours (a night worker sleeps by day); "" means their organisation's.
    quiet_hours: Mapped[str] = mapped_column(String(20), default="")

    @property
    def first_name(self) -> str:
        """The name to greet someone by, without a title ("Dr Asha Patel" -> "Asha")."""
        words = [w for w in self.name.split() if w.rstrip(".").lower() not in TITLES]
        return words[0] if words else self.name


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("organisation_id", "person_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    role: Mapped[str] = mapped_column(String(20))  # coordinator | facilitator
    granted_at: Mapped[datetime]


class Cohort(Base):
    __tablename__ = "cohorts"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    # A snapshot, so editing the programme file never changes a cohort that is already running.
    programme: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft|running|paused|finished
    # Matching choices (department_mode, seed) and the coordinator's exclusions ([[person, person], ...]).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Participant(Base):
    """A person's membership of one cohort, with what matching and slot-finding need."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("cohort_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # clinician | manager | other
    profession: Mapped[str] = mapped_column(String(100), default="")
    site: Mapped[str] = mapped_column(String(100), default="")
    department: Mapped[str] = mapped_column(String(100), default="")
    grade: Mapped[str] = mapped_column(String(50), default="")
    rota: Mapped[str] = mapped_column(String(200), default="")  # the rota in words (bot/rota.py)
    # Shift patterns, imported shifts, leave and the rotation date (bot/rota.py); None: not given.
    rota_plan: Mapped[Optional[dict[str, Any]]] = mapped_column(default=None)
    # Weekly windows in the person's own time zone: [{"day": 0, "start": "12:00", "end": "14:00"}, ...]
    availability: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active|paused|removed|erased
    paused_until: Mapped[Optional[date]] = mapped_column(Date)  # a paused person's return date
    # What matching weighs: learning goal tags, the line manager's email (never their buddy), and
    # the emails of people they asked to be paired with.
    goals: Mapped[list[Any]] = mapped_column(default=list)
    line_manager: Mapped[str] = mapped_column(String(320), default="")
    requests: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]

    person: Mapped[Person] = relationship(lazy="joined")


class Pair(Base):
    """A pair, or a group of three or four."""

    __tablename__ = "pairs"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")  # proposed | active | broken
    rationale: Mapped[str] = mapped_column(Text, default="")  # why matching chose them, in one line
    introduced_at: Mapped[Optional[datetime]]
    # Last buddy meeting or shadowing held; the quiet-pair rules count from here (or the intro).
    last_met_at: Mapped[Optional[datetime]]
    nudged_at: Mapped[Optional[datetime]]
    escalated_at: Mapped[Optional[datetime]]
    # Who proposes the next meeting: the manager first, then members in turn.
    proposals_made: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]

    members: Mapped[list["PairMember"]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class PairMember(Base):
    __tablename__ = "pair_members"

    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id"), primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), primary_key=True)

    participant: Mapped[Participant] = relationship(lazy="joined")


class Meeting(Base):
    """A buddy meeting, a shadowing visit or a group meeting, from proposal to outcome."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    pair_id: Mapped[Optional[int]] = mapped_column(ForeignKey("pairs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # buddy | shadowing | group
    direction: Mapped[str] = mapped_column(String(40), default="")
    step_id: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    proposer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("participants.id"))
    slots: Mapped[list[Any]] = mapped_column(default=list)  # ISO UTC instants offered
    agreed_at: Mapped[Optional[datetime]]  # the slot taken (or the group meeting's time)
    # proposed | agreed | held | not_held | unscheduled | lapsed
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    outcome_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime]
    location: Mapped[str] = mapped_column(String(200), default="")
    minutes: Mapped[Optional[int]] = mapped_column(Integer)  # a workshop's length; buddy meetings use the option
    # SEQUENCE of its calendar invitations' newest version (RFC 5545): raised by every change once an
    # invitation has gone out, so a calendar replaces its copy (bot/invitations.py).
    calendar_sequence: Mapped[int] = mapped_column(Integer, default=0)

    # One arrangement per pair: at most one buddy meeting (and one shadowing visit each way) that is
    # still being arranged or is booked, held by the database so two taps or two members cannot race.
    __table_args__ = (
        Index("uq_meetings_live_arrangement", "pair_id", "kind", "direction", unique=True,
              sqlite_where=text("status IN ('proposed', 'agreed', 'unscheduled')"),
              postgresql_where=text("status IN ('proposed', 'agreed', 'unscheduled')")),
    )


class Rsvp(Base):
    __tablename__ = "rsvps"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    answer: Mapped[str] = mapped_column(String(10))  # yes | no | maybe
    answered_at: Mapped[datetime]


class CalendarInvitation(Base):
    """The copy of a meeting that one participant's calendar holds: what the last invitation sent to
    them said (its version, its time, or that it is cancelled). Cancellations go to those who hold a
    copy, and a calendar link gives the copy as it is now (bot/invitations.py)."""

    __tablename__ = "calendar_invitations"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    sent_at: Mapped[datetime]


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id"), unique=True)
    goals: Mapped[str] = mapped_column(Text, default="")
    frequency: Mapped[str] = mapped_column(String(50), default="")
    shadowing_plan: Mapped[str] = mapped_column(Text, default="")
    confidentiality: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_by: Mapped[Optional[int]] = mapped_column(ForeignKey("participants.id"))
    completed_at: Mapped[Optional[datetime]]


class Reflection(Base):
    """Free text, private to its author unless they choose to share it."""

    __tablename__ = "reflections"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    meeting_id: Mapped[Optional[int]] = mapped_column(ForeignKey("meetings.id"))
    step_id: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("participant_id", "survey", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    survey: Mapped[str] = mapped_column(String(50))
    item: Mapped[str] = mapped_column(String(80))
    value: Mapped[Optional[int]] = mapped_column(Integer)
    text: Mapped[Optional[str]] = mapped_column(Text)
    answered_at: Mapped[datetime]


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id"), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    stage: Mapped[str] = mapped_column(String(20), default="none")
    updated_at: Mapped[datetime]


class Prompt(Base):
    """A question to one participant: the stored state of a conversation.

    Typed replies are routed by bot/focus.py: a question asked in chat waits ("waiting", its message
    held in `state`) while another chat question is open, so a person answers one thing at a time;
    a restart in the middle of a flow carries on where it was.
    """

    __tablename__ = "prompts"
    __table_args__ = (Index("ix_prompts_open", "participant_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    flow: Mapped[str] = mapped_column(String(30))
    ref_id: Mapped[Optional[int]] = mapped_column(Integer)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="open")  # waiting | open | answered | closed
    created_at: Mapped[datetime]
    answered_at: Mapped[Optional[datetime]]
    # When the question was put to the person (a waiting one is asked later than it was created).
    asked_at: Mapped[Optional[datetime]]

    @property
    def asks_in_chat(self) -> bool:
        """Answered by typing in the chat (not a button or a form): such questions wait their turn."""
        if self.flow == "profile":
            return True
        if self.flow == "rota":  # the typed follow-ups; "Do you work shifts?" has buttons
            return (self.state or {}).get("step") != "shifts"
        return self.flow in ("survey", "contract", "reflection") and (self.state or {}).get("mode") != "form"


class TypedNote(Base):
    """Something a person typed that answered no open question, or that could answer several
    (they are asked which): kept, never dropped."""

    __tablename__ = "typed_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="kept")  # kept | asked | taken
    taken_for: Mapped[str] = mapped_column(String(200), default="")
    prompt_id: Mapped[Optional[int]] = mapped_column(Integer)  # the question it was finally taken for
    received_at: Mapped[datetime]


class Delivery(Base):
    """The outbox: one message to one recipient, recorded with the state change that caused it."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "platform", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    platform: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[dict[str, Any]]
    message: Mapped[dict[str, Any]]
    cohort_id: Mapped[Optional[int]] = mapped_column(Integer, index=True)
    intent: Mapped[str] = mapped_column(String(40), default="")
    # pending | sending | sent | failed | unreachable
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime]  # when it may next be tried (a claim moves it to the lease's end)
    # The worker (replica) whose claim this is; only it may mark the row (see bot/outbox.py).
    claimed_by: Mapped[Optional[str]] = mapped_column(String(100))
    # When it was meant to go: now, or later for a message held for the recipient's daytime.
    due_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime]
    sent_at: Mapped[Optional[datetime]]
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    platform_ref: Mapped[Optional[str]] = mapped_column(String(200))


class ProcessedEvent(Base):
    """Inbound event ids already handled, so a platform's retry is processed once."""

    __tablename__ = "processed_events"

    event_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime]


class StepRun(Base):
    """A programme step that has fanned out for a cohort: the guard that makes each step run once."""

    __tablename__ = "step_runs"

    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    ran_at: Mapped[datetime]
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class TimelineChange(Base):
    """A change the running timeline must follow (a cohort started, paused, resumed or shifted; a
    wake-up), written in the unit of work that made it. On SQLite the one server polls these rows;
    on PostgreSQL the change is a NOTIFY instead and this table stays empty (bot/timeline_changes.py)."""

    __tablename__ = "timeline_changes"
    # Followed rows are deleted; AUTOINCREMENT keeps SQLite from reusing their ids for new ones.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[Optional[int]] = mapped_column(Integer)
    job: Mapped[Optional[str]] = mapped_column(String(50))
    ref_id: Mapped[Optional[int]] = mapped_column(Integer)
    due_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisations.id"))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class PendingImport(Base):
    """A previewed CSV import: its valid rows wait here until the coordinator confirms."""

    __tablename__ = "pending_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    rows: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(String(20), default="previewed")  # previewed|confirmed|replaced
    created_at: Mapped[datetime]


class ErasedCount(Base):
    """What an erased person added to the cohort's counts (a survey answered, a workshop place
    taken), kept without them so the figures still add up."""

    __tablename__ = "erased_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    measure: Mapped[str] = mapped_column(String(200))  # survey:<id>:answered | workshop:<meeting>:accepted
    count: Mapped[int] = mapped_column(Integer, default=1)


class Conversation(Base):
    """A conversation the platform told us about: a person's chat with the bot, or a group chat
    whose members are exactly a pair. `reference` is the adapter's own data for reaching it
    (opaque to the core); the core only asks whether a pair has a group conversation."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "members_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(200))
    # Sorted member address keys joined by "|": one for a personal chat, several for a group.
    members_key: Mapped[str] = mapped_column(String(2000))
    is_group: Mapped[bool] = mapped_column(default=False)
    reference: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
