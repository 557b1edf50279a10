"""What a flow works with during one unit of work: the session, the time, and what it wants sent.

Deliveries go into the outbox in the same transaction; wake-ups (e.g. "ask whether the meeting
happened at 13:45") are handed to the timeline after the transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import outbox
from bot.bank_holidays import DEFAULT_NATION
from bot.capabilities import GROUP_CONVERSATION, Capabilities
from bot.events import Address
from bot.messages import Message, Recipient
from bot.daytime import UNPROMPTED, next_daytime
from bot.models import Cohort, Conversation, Organisation, Pair, Participant, Person, Prompt, RoleGrant
from bot.programme import DatedStep, Programme

if TYPE_CHECKING:
    from bot.config import Settings


@dataclass(frozen=True)
class CoreOptions:
    meeting_minutes: int = 45
    quiet_grace_weeks: int = 1
    rotation_warning_weeks: int = 3  # config [organisation] rotation_warning_weeks
    escalate_weeks_after_nudge: int = 1
    quiet_hours: str = "21:00-08:00"  # the organisations' default (config [organisation] quiet_hours)
    nation: str = DEFAULT_NATION  # whose bank holidays, unless an organisation set its own ([organisation] nation)
    # What a new cohort gets unless its `cohort create` names another ([scheduler] timezone and
    # [programme] file); programme None: the built-in programme.
    timezone: str = "Europe/London"
    programme: Programme | None = None
    # Stretches every survey's open period: the demo's simulated people answer at demo speed, when
    # weeks of programme time pass in seconds. None: each survey's own closes_after_days.
    survey_open_days: int | None = None
    # Calendar invitations ([calendar] in the config): the UIDs' domain ("" = the organisation's
    # workspace id) and who workshop invitations come from ("" = the cohort's first coordinator).
    calendar_domain: str = ""
    calendar_organiser_email: str = ""
    calendar_organiser_name: str = "Pairbot"

    @classmethod
    def from_settings(cls, settings: Settings, programme: Programme | None) -> "CoreOptions":
        """What the config says, for `pairbot serve` and console commands alike."""
        return cls(meeting_minutes=settings.programme.meeting_minutes,
                   quiet_grace_weeks=settings.programme.quiet_grace_weeks,
                   escalate_weeks_after_nudge=settings.programme.escalate_weeks_after_nudge,
                   quiet_hours=settings.organisation.quiet_hours, nation=settings.organisation.nation,
                   rotation_warning_weeks=settings.organisation.rotation_warning_weeks,
                   timezone=settings.scheduler.timezone, programme=programme,
                   calendar_domain=settings.calendar.domain,
                   calendar_organiser_email=settings.calendar.organiser_email,
                   calendar_organiser_name=settings.calendar.organiser_name)


@dataclass(frozen=True)
class Wakeup:
    """Something the timeline should run at a programme time: a job name and primitive arguments."""

    job: str
    ref_id: int
    at: datetime


class WakeupScheduler(Protocol):
    """The timeline in this process, told of a unit's changes after it commits. Other processes
    hear of them from the database (bot/timeline_changes.py); a replica that does not lead the
    timeline ignores them."""

    def schedule(self, wakeup: Wakeup) -> None: ...

    def cohort_changed(self, cohort_id: int) -> None:
        """Re-arm (or pause, or disarm) a cohort's steps to match its stored status and dates."""


def nation_of(session: Session, organisation_id: int, default: str) -> str:
    """The organisation's own nation ("bank-holidays Scotland"), else `default` (the config's)."""
    organisation = session.get(Organisation, organisation_id)
    return (organisation.nation if organisation is not None else "") or default


def address_of(person: Person) -> Address:
    return Address(person.platform, person.workspace, person.user_id)


def members_key(addresses) -> str:
    """How a conversation's members are stored: their address keys, sorted."""
    return "|".join(sorted(a.key() for a in addresses))


@dataclass
class FlowContext:
    session: Session
    now: datetime
    capabilities: Capabilities
    options: CoreOptions
    outgoing: list[outbox.Outgoing] = field(default_factory=list)
    wakeups: list[Wakeup] = field(default_factory=list)
    # Cohorts whose timeline must be re-armed after the commit (started, paused, resumed, shifted).
    cohorts_changed: set[int] = field(default_factory=set)
    # Chat questions sent in this unit (a question may have to wait its turn: bot/focus.py), and the
    # participants whose questions were answered or closed (their next question may go out).
    questions: list[tuple[outbox.Outgoing, Prompt]] = field(default_factory=list)
    answered_participants: set[int] = field(default_factory=set)
    # Facts that never change once committed (a survey's send time), shared by the units of one
    # core; `remember` keeps a new one aside until its unit commits.
    memo: dict = field(default_factory=dict)
    learned: dict = field(default_factory=dict)

    def recall(self, key):
        return self.learned.get(key, self.memo.get(key))

    def remember(self, key, value) -> None:
        self.learned[key] = value

    # --- sending -----------------------------------------------------------------------------
    def send_to(self, participant: Participant, message: Message, key: str, cohort_id: int | None = None,
                available_at: datetime | None = None, asks: Prompt | None = None) -> None:
        """Queue a message to one participant; `asks` is the question it puts to them, if any."""
        if not participant.person.reachable:
            return  # the platform said twice they are gone; they are reachable again once they write
        item = outbox.Outgoing(
            key=key,
            recipient=Recipient.person(address_of(participant.person)),
            message=message,
            cohort_id=cohort_id if cohort_id is not None else participant.cohort_id,
            intent=message.intent,
            available_at=available_at or self._daytime(participant.person, message),
        )
        self.outgoing.append(item)
        if asks is not None:
            self.questions.append((item, asks))

    def send_to_person(self, person: Person, message: Message, key: str, cohort_id: int | None) -> None:
        self.outgoing.append(
            outbox.Outgoing(key=key, recipient=Recipient.person(address_of(person)), message=message,
                            cohort_id=cohort_id, intent=message.intent, available_at=self._daytime(person, message))
        )

    def _daytime(self, person: Person, message: Message) -> datetime | None:
        """A message nobody asked for waits for the end of the recipient's quiet hours."""
        if message.intent not in UNPROMPTED:
            return None
        return next_daytime(self.now, person.timezone, self.quiet_hours_of(person))

    def quiet_hours_of(self, person: Person) -> str:
        """Their own quiet hours, else their organisation's, else the config's."""
        if person.quiet_hours:
            return person.quiet_hours
        organisation = self.session.get(Organisation, person.organisation_id)
        return (organisation.quiet_hours if organisation is not None else "") or self.options.quiet_hours

    def nation(self, organisation_id: int) -> str:
        """Whose bank holidays an organisation follows."""
        return nation_of(self.session, organisation_id, self.options.nation)

    def timeline(self, cohort: Cohort, start: date | None = None) -> list[DatedStep]:
        """The cohort's steps with their due times, off its organisation's bank holidays (as the
        timeline arms them); `start` for a start date it does not have yet."""
        programme = Programme.from_dict(cohort.programme)
        return programme.dated(start or cohort.start_date, cohort.timezone, self.nation(cohort.organisation_id))

    def can_group(self, members: list[Participant]) -> bool:
        """Whether one conversation reaches all members: the platform can open one (Slack), or the
        members made one themselves and added the bot (a Teams group chat)."""
        platforms = {m.person.platform for m in members}
        if len(platforms) != 1:
            return False
        platform = platforms.pop()
        if self.capabilities.has(platform, GROUP_CONVERSATION):
            return True
        key = members_key([address_of(m.person) for m in members])
        return self.session.scalars(select(Conversation.id).where(
            Conversation.platform == platform, Conversation.members_key == key,
            Conversation.is_group.is_(True))).first() is not None

    def send_to_group(self, members: list[Participant], message: Message, key: str, cohort_id: int) -> None:
        members = [m for m in members if m.person.reachable]
        if len(members) < 2:
            for member in members:  # one left to reach: the pair's message goes to them alone
                self.send_to(member, message, key, cohort_id)
            return
        self.outgoing.append(
            outbox.Outgoing(
                key=key,
                recipient=Recipient.pair_group(tuple(address_of(m.person) for m in members)),
                message=message,
                cohort_id=cohort_id,
                intent=message.intent,
            )
        )

    def wake(self, job: str, ref_id: int, at: datetime) -> None:
        self.wakeups.append(Wakeup(job, ref_id, at))

    def flush(self) -> int:
        """Write the outgoing deliveries into the outbox (same transaction as the state change)."""
        from bot import focus  # the flows it routes to import this module

        focus.hold_and_release(self)
        written = outbox.record(self.session, self.outgoing, self.now)
        self.outgoing.clear()
        return written

    # --- conversation state ------------------------------------------------------------------
    def open_prompt(self, participant: Participant, flow: str, ref_id: int | None, **state) -> Prompt:
        prompt = Prompt(participant_id=participant.id, flow=flow, ref_id=ref_id, state=state,
                        status="open", created_at=self.now, asked_at=self.now)
        # No flush here: a fan-out opens thousands at once and autoflush writes them in one go.
        self.session.add(prompt)
        return prompt

    def close_prompts(self, flow: str, ref_id: int, participant_ids: list[int] | None = None,
                      status: str = "closed") -> None:
        query = select(Prompt).where(Prompt.flow == flow, Prompt.ref_id == ref_id, Prompt.status == "open")
        if participant_ids is not None:
            query = query.where(Prompt.participant_id.in_(participant_ids))
        for prompt in self.session.scalars(query):
            self.settle(prompt, status)

    def settle(self, prompt: Prompt, status: str = "answered") -> None:
        """An open question is answered or closed: the person's next waiting question may go out."""
        prompt.status = status
        prompt.answered_at = self.now
        if prompt.asks_in_chat:  # only a chat question holds others back (bot/focus.py)
            self.answered_participants.add(prompt.participant_id)

    # --- look-ups ----------------------------------------------------------------------------
    def staff(self, cohort: Cohort, role: str) -> list[Person]:
        """Coordinators or facilitators of the cohort's organisation."""
        return list(
            self.session.scalars(
                select(Person)
                .join(RoleGrant, RoleGrant.person_id == Person.id)
                .where(RoleGrant.organisation_id == cohort.organisation_id, RoleGrant.role == role)
                .order_by(Person.id)
            )
        )

    def tell_coordinators(self, cohort: Cohort, text: str, key: str, intent: str = "coordinator_alert") -> None:
        for person in self.staff(cohort, "coordinator"):
            self.send_to_person(person, Message(text=text, intent=intent), f"{key}:to:{person.id}", cohort.id)


def pair_members(pair: Pair) -> list[Participant]:
    """Members of a pair, managers first (they usually have the more flexible diary)."""
    members = [m.participant for m in pair.members]
    order = {"manager": 0, "clinician": 1}
    return sorted(members, key=lambda p: (order.get(p.role, 2), p.id))


def active_members(pair: Pair) -> list[Participant]:
    """Members taking part (not paused or removed). One the platform cannot reach stays a member, so
    the pair's steps still reach the others; sending skips whoever cannot be reached."""
    return [m for m in pair_members(pair) if m.status == "active"]


def names(people: list[Participant]) -> str:
    first = [p.person.name for p in people]
    if len(first) <= 1:
        return "".join(first)
    return ", ".join(first[:-1]) + " and " + first[-1]
