"""Someone moving on: a participant rotates to another post, or starts leave of two weeks or more.

A daily check tells the cohort's coordinators, `rotation_warning_weeks` ahead, what is left for the
pair (meetings held of the programme's target, shadowing, the next booked meeting), and offers the
pair an extra meeting before the move or to carry on across sites. Each goes once per move (stable
keys). Nothing for a move after the programme's end, or for people paused or removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import rota
from bot.context import FlowContext, active_members, names
from bot.flows.base import choice, split_value
from bot.flows.quiet import active_until
from bot.messages import Message
from bot.models import AuditEntry, Cohort, Delivery, Meeting, Pair, Participant
from bot.programme import Programme
from bot.slots import format_slot

log = logging.getLogger(__name__)

FLOW = "moving_on"
# Leave this long or longer interrupts a pair as a rotation does; a week off does not.
LONG_LEAVE = timedelta(weeks=2)
CARRY_ON = "carry on across sites"


@dataclass(frozen=True)
class Move:
    """One participant leaving their pair's reach: to another post, or on long leave."""

    participant: Participant
    kind: str  # "rotation" | "leave"
    first: date  # the day they move, or their first day of leave
    last: date | None = None  # leave's last day

    @property
    def stamp(self) -> str:
        return f"{self.kind}:{self.first.isoformat()}"

    def what(self) -> str:
        """Worded to follow their name."""
        if self.kind == "rotation":
            return f"rotates to another post on {_day(self.first)}"
        return f"is on leave from {_day(self.first)} to {_day(self.last)}"

    def yours(self) -> str:
        """Said to them."""
        if self.kind == "rotation":
            return f"You rotate to another post on {_day(self.first)}"
        return f"You are on leave from {_day(self.first)} to {_day(self.last)}"


def moves_ahead(participant: Participant, today: date, weeks: int) -> list[Move]:
    """Their rotation and long leave that start after today and within `weeks` weeks."""
    if not participant.rota_plan:
        return []
    plan = rota.plan_of(participant)
    moves = [Move(participant, "rotation", plan.rotates)] if plan.rotates else []
    moves += [Move(participant, "leave", v.first, v.last) for v in plan.leave
              if v.last - v.first + timedelta(days=1) >= LONG_LEAVE]
    return [m for m in moves if today < m.first <= today + timedelta(weeks=weeks)]


def sweep(ctx: FlowContext, cohort: Cohort) -> int:
    """Daily: warn about the moves coming into view; each once."""
    until = active_until(cohort)
    if until is not None and ctx.now > until:
        return 0
    if not _anyone_moving(ctx, cohort):
        return 0  # most days: look at the pairs only when a move has come into view
    pairs = ctx.session.scalars(select(Pair).where(Pair.cohort_id == cohort.id, Pair.status == "active")
                                .order_by(Pair.id))
    acted = 0
    for pair in pairs:
        members = active_members(pair)
        if len(members) < 2:
            continue
        for member in members:
            today = ctx.now.astimezone(rota.zone_of(member)).date()
            for move in moves_ahead(member, today, ctx.options.rotation_warning_weeks):
                if until is not None and move.first > until.date():
                    continue  # the programme is over by then
                key = f"pair:{pair.id}:moving:{member.id}:{move.stamp}"
                if _warned(ctx, key):
                    continue
                _warn(ctx, cohort, pair, members, move, today, key)
                acted += 1
    return acted


def _anyone_moving(ctx: FlowContext, cohort: Cohort) -> bool:
    """Whether anyone taking part has a rotation or long leave within the warning window."""
    with_rota = ctx.session.scalars(select(Participant).where(
        Participant.cohort_id == cohort.id, Participant.status == "active", Participant.rota_plan.is_not(None)))
    weeks = ctx.options.rotation_warning_weeks
    return any(moves_ahead(p, ctx.now.astimezone(rota.zone_of(p)).date(), weeks) for p in with_rota)


def _warned(ctx: FlowContext, key: str) -> bool:
    if any(item.key.startswith(f"{key}:") for item in ctx.outgoing):
        return True
    return ctx.session.scalars(select(Delivery.id).where(Delivery.idempotency_key.like(f"{key}:%"))
                               .limit(1)).first() is not None


def _warn(ctx: FlowContext, cohort: Cohort, pair: Pair, members: list[Participant], move: Move, today: date,
          key: str) -> None:
    mover = move.participant
    others = [m for m in members if m.id != mover.id]
    zone = ZoneInfo(cohort.timezone)
    group = "pair" if len(members) == 2 else "group"
    text = (f"{mover.person.name} {move.what()} ({_in(move.first - today)}). Their {group} with {names(others)} "
            f"{left_for(ctx, cohort, pair, zone)}.")
    ctx.tell_coordinators(cohort, text, key=f"{key}:warning", intent="rotation_warning")
    suggest = choice("Suggest times", "meeting", "propose", pair.id)
    # Leave ends and the pair picks up again; only a move of post leaves them on different sites.
    options = (suggest, choice("We'll carry on across sites", FLOW, "carry_on", pair.id, mover.id, move.stamp)) \
        if move.kind == "rotation" else (suggest,)
    question = "Would you like an extra meeting{} before then, or will you carry on across sites?" \
        if move.kind == "rotation" else "Would you like an extra meeting{} before then?"
    for member in members:
        if member.id == mover.id:
            buddies = names([m for m in members if m.id != member.id])
            text = f"{move.yours()}. {question.format(' with ' + buddies)}"
        else:
            text = f"{mover.person.name} {move.what()}. {question.format('')}"
        ctx.send_to(member, Message(text, choices=options, intent="moving_on_offer"),
                    f"{key}:offer:to:{member.id}", cohort.id)


def left_for(ctx: FlowContext, cohort: Cohort, pair: Pair, zone: ZoneInfo) -> str:
    """"has held 2 of 4 buddy meetings; shadowing: not yet both ways; next: Tue 16 Mar, 12:30"."""
    programme = Programme.from_dict(cohort.programme)
    meetings = list(ctx.session.scalars(select(Meeting).where(Meeting.pair_id == pair.id, Meeting.kind != "group")))
    held = sum(1 for m in meetings if m.kind == "buddy" and m.status == "held")
    parts = [f"has held {held} of {programme.meetings_target} buddy meetings"]
    ways = {s.params.get("direction", "manager_shadows_clinician") for s in programme.steps
            if s.intent == "propose_shadowing"}
    if ways:
        done = {m.direction for m in meetings if m.kind == "shadowing" and m.status == "held"} & ways
        state = "done" if done == ways else "not yet" if not done else f"{len(done)} of {len(ways)} ways"
        parts.append(f"shadowing: {state}{' both ways' if len(ways) == 2 and len(done) != 1 else ''}")
    booked = sorted(m.agreed_at for m in meetings if m.status == "agreed" and m.agreed_at and m.agreed_at > ctx.now)
    parts.append(f"next: {format_slot(booked[0], zone)}" if booked else "next: nothing booked")
    return "; ".join(parts)


# --- the pair's answer ---------------------------------------------------------------------------------
def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    if verb != "carry_on":
        raise LookupError(f"unknown moving-on action '{verb}'")
    pair_id, mover_id, kind, first = split_value(value, 4)
    pair = ctx.session.get(Pair, int(pair_id))
    if pair is None or pair.status != "active" or who.id not in {m.id for m in active_members(pair)}:
        raise LookupError("That pair is no longer active.")
    cohort = ctx.session.get(Cohort, pair.cohort_id)
    mover = ctx.session.get(Participant, int(mover_id))
    marker = f"pair {pair.id}, {kind} {first} of participant {mover_id}"
    if ctx.session.scalars(select(AuditEntry.id).where(AuditEntry.action == CARRY_ON,
                                                       AuditEntry.detail.like(f"{marker}:%"))).first():
        return Message("Already noted: you'll carry on across sites. I'll keep suggesting times as usual.",
                       intent="moving_on_noted")
    members = active_members(pair)
    ctx.session.add(AuditEntry(organisation_id=cohort.organisation_id, actor=who.person.name, action=CARRY_ON,
                               detail=f"{marker}: {names(members)}", at=ctx.now))
    log.info("pair %s will carry on across sites (%s %s of participant %s)", pair.id, kind, first, mover_id)
    move = Move(mover, kind, date.fromisoformat(first))
    ctx.tell_coordinators(cohort, f"{names(members)} will carry on across sites after {mover.person.name} "
                                  f"{_moves(move)} ({who.person.name} said so).",
                          key=f"pair:{pair.id}:moving:{mover_id}:{kind}:{first}:carry_on",
                          intent="moving_on_carry_on")
    return Message("Good: I've told the coordinator you'll carry on across sites. I'll keep suggesting times "
                   "that fit both rotas.", intent="moving_on_noted")


def _moves(move: Move) -> str:
    if move.kind == "rotation":
        return f"moves post on {_day(move.first)}"
    return f"starts leave on {_day(move.first)}"


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _in(gap: timedelta) -> str:
    days = gap.days
    if days % 7 == 0:
        weeks = days // 7
        return f"in {weeks} week{'s' if weeks != 1 else ''}"
    return f"in {days} day{'s' if days != 1 else ''}"
