"""Pair introduction: a group conversation with all members where the platform can open one,
otherwise one introduction to each member with links to reach the others."""

from __future__ import annotations

from bot import reach
from bot.context import FlowContext, active_members, address_of, names
from bot.flows.base import StepInfo, fill
from bot.events import Profile
from bot.messages import Message
from bot.models import Cohort, Pair, Participant
from bot.slots import describe_availability

FLOW = "intro"


def bio(member: Participant) -> str:
    details = [member.profession or member.role, member.department, member.site]
    line = f"{member.person.name}: " + ", ".join(d for d in details if d)
    if member.availability:
        line += f" (usually free {describe_availability(member.availability)})"
    return line


def contact(member: Participant) -> Profile:
    person = member.person
    return Profile(mention="", address=address_of(person), name=person.name, email=person.email,
                   timezone=person.timezone)


def introduce(ctx: FlowContext, cohort: Cohort, pair: Pair, step: StepInfo) -> int:
    members = active_members(pair)
    if len(members) < 2:
        return 0
    key = f"step:{cohort.id}:{step.step_id}:pair:{pair.id}"
    if ctx.can_group(members):
        text = fill(step.text, first_name="everyone", buddy_names=names(members), cohort=cohort.name,
                    week=step.week)
        bios = "\n".join(f"• {bio(m)}" for m in members)
        ctx.send_to_group(members, Message(f"{text}\n{bios}{reach.note_for(members)}", intent="pair_intro"), key,
                          cohort.id)
        sent = 1
    else:
        sent = 0
        for member in members:
            others = [o for o in members if o is not member]
            text = fill(step.text, first_name=member.person.first_name, buddy_names=names(others),
                        cohort=cohort.name, week=step.week)
            bios = "\n".join(f"• {bio(o)}" for o in others)
            links = ctx.capabilities.contact_links.links(
                member.person.platform, contact(member), [contact(o) for o in others],
                f"Paired learning: {cohort.name}",
            )
            ctx.send_to(member, Message(f"{text}\n{bios}{reach.note_for(members, member)}", links=links,
                                        intent="pair_intro"),
                        f"{key}:participant:{member.id}", cohort.id)
            sent += 1
    pair.introduced_at = pair.introduced_at or ctx.now
    return sent
