"""Coordinator commands, one grammar for every platform (Slack's /pairbot, Teams chat, the console).

Every command names the role it needs; anyone else gets a polite refusal that changes nothing."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import func, select

from bot import enrolment
from bot.context import FlowContext
from bot.events import Command
from bot.messages import Message
from bot.models import AuditEntry, Cohort, Organisation, Meeting, Pair, Participant, Person, RoleGrant, StepRun, SurveyResponse
from bot.programme import Programme


PARTICIPANT_HELP = (
    "I'm Pairbot, and I help you and your buddy keep meeting. Answer my questions with the buttons "
    "or by typing the number. You can also send:\n"
    "• availability Mon 12:00-14:00, Thu 17:00-18:00 (when you could usually meet)\n"
    "• help (this message)"
)


@dataclass(frozen=True)
class CommandSpec:
    name: str
    role: str | None  # None: anyone
    summary: str
    example: str
    run: Callable[[FlowContext, Person | None, list[str], Command], Message]


def _roles(ctx: FlowContext, person: Person | None) -> set[str]:
    if person is None:
        return set()
    return set(ctx.session.scalars(select(RoleGrant.role).where(RoleGrant.person_id == person.id)))


def help_message(ctx: FlowContext, person: Person | None) -> Message:
    """What this person can do: the participant's guide, then the commands their roles allow."""
    roles = _roles(ctx, person)
    allowed = [c for c in REGISTRY.values() if c.role is None or c.role in roles]
    lines = [f"• {c.example}: {c.summary}" for c in allowed]
    return Message(f"{PARTICIPANT_HELP}\n\nCommands you can use:\n" + "\n".join(lines), intent="help")


def _help(ctx: FlowContext, person: Person | None, args: list[str], event: Command) -> Message:
    return help_message(ctx, person)


def _cohort(ctx: FlowContext, person: Person, name: str | None) -> Cohort | None:
    query = select(Cohort).where(Cohort.organisation_id == person.organisation_id)
    if name:
        query = query.where(func.lower(Cohort.name) == name.lower())
    return ctx.session.scalars(query.order_by(Cohort.id.desc())).first()


def _status(ctx: FlowContext, person: Person | None, args: list[str], event: Command) -> Message:
    cohort = _cohort(ctx, person, " ".join(args) or None)
    if cohort is None:
        return Message("There is no cohort yet." if not args else f"There is no cohort called '{' '.join(args)}'.",
                       intent="status")
    programme = Programme.from_dict(cohort.programme)
    session = ctx.session
    pairs = session.scalar(select(func.count()).select_from(Pair).where(Pair.cohort_id == cohort.id,
                                                                         Pair.status == "active")) or 0
    held = session.scalar(select(func.count()).select_from(Meeting).where(
        Meeting.cohort_id == cohort.id, Meeting.kind == "buddy", Meeting.status == "held")) or 0
    shadowing = dict(session.execute(
        select(Meeting.direction, func.count()).where(Meeting.cohort_id == cohort.id, Meeting.kind == "shadowing",
                                                      Meeting.status == "held").group_by(Meeting.direction)).all())
    participants = session.scalar(select(func.count()).select_from(Participant).where(
        Participant.cohort_id == cohort.id, Participant.status == "active")) or 0
    answered = session.scalar(select(func.count(func.distinct(SurveyResponse.participant_id))).join(
        Participant, Participant.id == SurveyResponse.participant_id).where(
        Participant.cohort_id == cohort.id, SurveyResponse.survey == "pre_survey")) or 0
    done = set(session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
    upcoming = [s for s in programme.steps if s.id not in done][:3]
    lines = [
        f"{cohort.name} ({cohort.status}), started {cohort.start_date:%d %b %Y}",
        f"Pairs: {pairs}; participants: {participants}",
        f"Buddy meetings held: {held} (target {programme.meetings_target} per pair, "
        f"{programme.meetings_target * pairs} in all)",
        f"Shadowing: managers shadowed clinicians {shadowing.get('manager_shadows_clinician', 0)}, "
        f"clinicians shadowed managers {shadowing.get('clinician_shadows_manager', 0)}",
        f"Baseline survey answered by {answered} of {participants}",
        "Next: " + ("; ".join(f"week {s.week} {s.intent}" for s in upcoming) or "programme complete"),
    ]
    return Message("\n".join(lines), intent="status")


ENROL_FIELDS = ("profession", "site", "department", "grade", "rota", "cohort")
ENROL_USAGE = "enrol PERSON ROLE [profession=...] [site=...] [department=...] [grade=...] [rota=...] [cohort=NAME]"


def _enrol(ctx: FlowContext, person: Person | None, args: list[str], event: Command) -> Message:
    """Enrol someone named by mention or email, with what the platform's directory knows of them."""
    if len(args) < 2:
        return Message(f"Usage: {ENROL_USAGE}\nROLE is one of {', '.join(enrolment.ROLES)}.", intent="error")
    who, role, extras = args[0], args[1].lower(), args[2:]
    if role not in enrolment.ROLES:
        return Message(f"'{args[1]}' is not a role: use one of {', '.join(enrolment.ROLES)}.", intent="error")
    details: dict[str, str] = {}
    for extra in extras:
        key, sep, value = extra.partition("=")
        if not sep or key.lower() not in ENROL_FIELDS:
            return Message(f"'{extra}' is not something I can record: use "
                           f"{', '.join(f + '=...' for f in ENROL_FIELDS)}.", intent="error")
        details[key.lower()] = value.strip()
    profile = next((p for p in event.people if p.mention == who), None)
    if profile is None:
        why = "is not a person in this workspace" if who in event.unknown else "does not name a person"
        return Message(f"'{who}' {why}: mention them (@name) or give their work email.", intent="error")
    cohort = _cohort(ctx, person, details.pop("cohort", None))
    if cohort is None or cohort.status in ("finished", "archived"):
        return Message("There is no open cohort to enrol into; create one first.", intent="error")
    org = ctx.session.get(Organisation, person.organisation_id)
    existing = ctx.session.scalars(
        select(Participant).join(Person, Person.id == Participant.person_id)
        .where(Participant.cohort_id == cohort.id, Person.platform == profile.address.platform,
               Person.workspace == profile.address.workspace, Person.user_id == profile.address.user)
    ).first()
    if existing is not None:
        return Message(f"{profile.name} is already enrolled in {cohort.name} as a {existing.role}.", intent="status")
    participant = enrolment.enrol(ctx.session, cohort, org, enrolment.Enrolee(
        address=profile.address, name=profile.name, role=role, email=profile.email, timezone=profile.timezone,
        **details), ctx.now)
    ctx.session.add(AuditEntry(organisation_id=org.id, actor=person.name, action="enrol",
                               detail=f"{profile.name} ({profile.address.key()}) as {role} in {cohort.name}",
                               at=ctx.now))
    return Message(f"Enrolled {participant.person.name} in {cohort.name} as a {role}"
                   f" (time zone {participant.person.timezone}).", intent="enrolled")


REGISTRY: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec("help", None, "what you can do", "help", _help),
        CommandSpec("status", "coordinator", "the cohort at a glance", "status [COHORT]", _status),
        CommandSpec("enrol", "coordinator", "enrol someone by @mention or email",
                    "enrol @asha clinician profession=\"Junior doctor\" site=North", _enrol),
    )
}


def run(ctx: FlowContext, event: Command, person: Person | None) -> Message:
    try:
        words = shlex.split(event.text)
    except ValueError:
        return Message("I couldn't read that command: a quotation mark is not closed.", intent="error")
    name = words[0].lower() if words else "help"
    spec = REGISTRY.get(name)
    if spec is None:
        import difflib

        near = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        return Message(f"I don't know the command '{name}'.{hint} Send 'help' for the list.", intent="error")
    if spec.role and spec.role not in _roles(ctx, person):
        return Message(f"Sorry, '{name}' is for {spec.role}s of this programme. Send 'help' to see what you "
                       f"can do.", intent="refused")
    return spec.run(ctx, person, words[1:], event)
