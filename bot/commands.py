"""Coordinator commands, one grammar for every platform (Slack's /pairbot, Teams chat, the console).

Every command names the role it needs; anyone else gets a polite refusal that changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import func, select

from bot.context import FlowContext
from bot.events import Address
from bot.messages import Message
from bot.models import Cohort, Meeting, Pair, Participant, Person, RoleGrant, StepRun, SurveyResponse
from bot.programme import Programme


@dataclass(frozen=True)
class CommandSpec:
    name: str
    role: str | None  # None: anyone
    summary: str
    example: str
    run: Callable[[FlowContext, Person | None, list[str]], Message]


def _roles(ctx: FlowContext, person: Person | None) -> set[str]:
    if person is None:
        return set()
    return set(ctx.session.scalars(select(RoleGrant.role).where(RoleGrant.person_id == person.id)))


def _help(ctx: FlowContext, person: Person | None, args: list[str]) -> Message:
    roles = _roles(ctx, person)
    allowed = [c for c in REGISTRY.values() if c.role is None or c.role in roles]
    lines = [f"• {c.example}: {c.summary}" for c in allowed]
    return Message("Commands you can use:\n" + "\n".join(lines), intent="help")


def _cohort(ctx: FlowContext, person: Person, name: str | None) -> Cohort | None:
    query = select(Cohort).where(Cohort.organisation_id == person.organisation_id)
    if name:
        query = query.where(func.lower(Cohort.name) == name.lower())
    return ctx.session.scalars(query.order_by(Cohort.id.desc())).first()


def _status(ctx: FlowContext, person: Person | None, args: list[str]) -> Message:
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


REGISTRY: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec("help", None, "what you can do", "help", _help),
        CommandSpec("status", "coordinator", "the cohort at a glance", "status [COHORT]", _status),
    )
}


def run(ctx: FlowContext, who: Address, person: Person | None, text: str) -> Message:
    words = text.split()
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
    return spec.run(ctx, person, words[1:])
