"""Who the bot can reach, and what it says when someone in a pair cannot be reached.

A person the platform says is gone (left the workspace, blocked the app) stays a member of their
pair: the pair carries on with whoever can still be reached, and those members are told so. Their
coordinator is told what is true for that pair.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.context import FlowContext, active_members, names
from bot.models import Cohort, Pair, PairMember, Participant, Person


def reachable(members: list[Participant]) -> list[Participant]:
    return [m for m in members if m.person.reachable]


def out_of_reach(members: list[Participant]) -> list[Participant]:
    return [m for m in members if not m.person.reachable]


def note_for(members: list[Participant], reader: Participant | None = None) -> str:
    """A line for the members who get a pair's message when others in the pair cannot be reached;
    empty when everybody can be."""
    missing = [m for m in out_of_reach(members) if reader is None or m.id != reader.id]
    if not missing:
        return ""
    return (f"\nI can't reach {names(missing)} through the app at the moment, so please get in touch with "
            f"them directly. Your coordinator knows.")


def current_pair(ctx: FlowContext, participant: Participant) -> Pair | None:
    return ctx.session.scalars(
        select(Pair).join(PairMember, PairMember.pair_id == Pair.id)
        .where(PairMember.participant_id == participant.id, Pair.status == "active")
        .order_by(Pair.id.desc())).first()


def pair_outlook(ctx: FlowContext, participant: Participant) -> str:
    """What happens to this person's pair while they cannot be reached, in words for a coordinator."""
    pair = current_pair(ctx, participant)
    if pair is None:
        return "They are not in a pair just now."
    others = [m for m in active_members(pair) if m.id != participant.id]
    still = reachable(others)
    if still:
        verb = "gets" if len(still) == 1 else "get"
        return f"Their pair carries on: {names(still)} still {verb} the pair's steps."
    if others:
        return (f"I can't reach {names(others)} either, so their pair's steps reach nobody until one of "
                f"them writes to me again.")
    return "Nobody else in their pair is taking part just now, so the pair's steps wait."


def coordinator_alert(ctx: FlowContext, participant: Participant, name: str, reason: str) -> str:
    cohort = ctx.session.get(Cohort, participant.cohort_id)
    return (f"I can no longer reach {name} ({reason}) for {cohort.name}. {pair_outlook(ctx, participant)} "
            f"I'll send to {name} again as soon as they write to me; you may want to get in touch.")


def tell_undelivered(ctx: FlowContext, members, cohort_id: int | None, reason: str, cause: str,
                     hours: float) -> None:
    """A delivery the platform never accepted, however long it was tried: the coordinators of the
    cohort it was for hear of it once per person and cause, not once per message."""
    for address in members:
        person = ctx.session.scalars(select(Person).where(
            Person.platform == address.platform, Person.workspace == address.workspace,
            Person.user_id == address.user)).first()
        if person is None:
            continue
        query = select(Participant).where(Participant.person_id == person.id)
        if cohort_id is not None:
            query = query.where(Participant.cohort_id == cohort_id)
        for participant in ctx.session.scalars(query):
            cohort = ctx.session.get(Cohort, participant.cohort_id)
            if cohort.status not in ("running", "paused", "draft"):
                continue
            ctx.tell_coordinators(
                cohort, f"I couldn't deliver a message to {person.name} for {cohort.name}: I kept trying for "
                        f"{hours:g} hours ({reason}). Later messages to them may not arrive either; you may "
                        f"want to get in touch with them.",
                key=f"undelivered:{person.id}:{cohort.id}:{cause}"[:180], intent="delivery_failed")
