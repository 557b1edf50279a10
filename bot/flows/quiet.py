"""Pairs that drift apart: a nudge when a pair has neither held nor booked a meeting for longer than
its plan allows, and the coordinator told about a pair still quiet a week after its nudge.

"Its plan" is the longer of the pair's contract ("fortnightly") and the programme's own spacing of
meetings (four weeks in the default programme), plus a week's grace, so a pair on plan is never
nudged. Nothing is sent after the programme's last step before the follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select

from bot.context import FlowContext, active_members, names
from bot.dates import short_date
from bot.flows.base import choice
from bot.messages import Message
from bot.models import Cohort, Contract, Meeting, Pair, PairMember, Participant
from bot.programme import Programme

CONTRACT_SPACING = {"weekly": timedelta(weeks=1), "fortnightly": timedelta(weeks=2), "monthly": timedelta(days=31)}


@dataclass(frozen=True)
class Quiet:
    """A pair that has gone quiet, and why."""

    pair: Pair
    members: list[Participant]
    since: datetime          # their last meeting held (or their introduction)
    met_before: bool
    allowed: timedelta
    reason: str


def active_until(cohort: Cohort):
    """Pairs are expected to meet until the programme's last step before the follow-up."""
    programme = Programme.from_dict(cohort.programme)
    tz = ZoneInfo(cohort.timezone)
    ends = [due for due, step in programme.timeline(cohort.start_date, tz) if step.intent != "follow_up"]
    return max(ends) if ends else None


def programme_spacing(cohort: Cohort) -> timedelta:
    """The longest the programme itself leaves between two buddy meetings it proposes."""
    programme = Programme.from_dict(cohort.programme)
    dues = sorted({due for due, step in programme.timeline(cohort.start_date, ZoneInfo(cohort.timezone))
                   if step.intent == "propose_meeting"})
    gaps = [later - earlier for earlier, later in zip(dues, dues[1:])]
    return max(gaps, default=timedelta(weeks=4))


def quiet_pairs(ctx: FlowContext, cohort: Cohort, only: int | None = None) -> list[Quiet]:
    """Pairs with no meeting held or booked for longer than their plan allows, with the reason
    (`only`: just that pair, as a held-back nudge asks as it goes out)."""
    until = active_until(cohort)
    if until is not None and ctx.now > until:
        return []
    spacing = programme_spacing(cohort)
    # Plain columns first: this runs daily for every cohort, and again for each nudge as it goes
    # out; only the pairs found quiet are loaded whole, with their members.
    taking_part = select(func.count()).select_from(PairMember).join(
        Participant, Participant.id == PairMember.participant_id).where(
        PairMember.pair_id == Pair.id, Participant.status == "active").scalar_subquery()
    query = select(Pair.id, Pair.introduced_at, Pair.last_met_at, Contract.frequency, taking_part) \
        .outerjoin(Contract, Contract.pair_id == Pair.id).where(Pair.cohort_id == cohort.id, Pair.status == "active")
    if only is not None:
        query = query.where(Pair.id == only)
    rows = [row for row in ctx.session.execute(query.order_by(Pair.id)) if row[4] >= 2]
    if not rows:
        return []
    # Their last meeting: one held, or one booked whose time has come and that nobody has said
    # did not happen (an unanswered "did you meet?" is not a quiet pair); and whether one is booked
    # ahead.
    took_place = and_(Meeting.kind != "group", Meeting.agreed_at <= ctx.now,
                      or_(Meeting.status == "held",
                          and_(Meeting.status.in_(("agreed", "lapsed")), Meeting.outcome_at.is_(None))))
    ahead = and_(Meeting.status == "agreed", Meeting.agreed_at > ctx.now)
    held, booked = {}, set()
    for pair_id, last, any_ahead in ctx.session.execute(
            select(Meeting.pair_id, func.max(case((took_place, Meeting.agreed_at))),
                   func.max(case((ahead, 1), else_=0)))
            .where(Meeting.pair_id.in_([row[0] for row in rows])).group_by(Meeting.pair_id)):
        if last is not None:
            held[pair_id] = last
        if any_ahead:
            booked.add(pair_id)
    found = []
    for pair_id, introduced_at, last_met_at, frequency, _members in rows:
        if pair_id in booked:
            continue  # a meeting is in the diary (or was, yesterday, and its check is pending)
        met = held.get(pair_id)
        since = max((t for t in (met, last_met_at) if t is not None), default=None) or introduced_at
        if since is None:
            continue
        agreed = CONTRACT_SPACING.get(frequency or "")
        allowed = max(spacing, agreed or timedelta(0)) + timedelta(weeks=ctx.options.quiet_grace_weeks)
        if ctx.now - since <= allowed:
            continue
        plan = f"their contract says {frequency}" if agreed else "the programme proposes one every " \
               f"{round(spacing.days / 7)} weeks"
        weeks = (ctx.now - since).days // 7
        what = f"no meeting held or booked for {weeks} weeks" if met or last_met_at else \
            f"no first meeting held or booked in the {weeks} weeks since they were introduced"
        pair = ctx.session.get(Pair, pair_id)
        found.append(Quiet(pair, active_members(pair), since, bool(met or last_met_at), allowed, f"{what}; {plan}"))
    return found


def still_quiet(ctx: FlowContext, pair_id: int) -> bool:
    """Whether a pair is (still) quiet now."""
    pair = ctx.session.get(Pair, pair_id)
    if pair is None or pair.status != "active":
        return False
    cohort = ctx.session.get(Cohort, pair.cohort_id)
    return bool(quiet_pairs(ctx, cohort, only=pair_id))


def sweep(ctx: FlowContext, cohort: Cohort) -> int:
    acted = 0
    for quiet in quiet_pairs(ctx, cohort):
        pair, members = quiet.pair, quiet.members
        stamp = quiet.since.date().isoformat()
        nudged_since = pair.nudged_at is not None and pair.nudged_at > quiet.since
        if not nudged_since:
            options = (choice("Suggest times", "meeting", "propose", pair.id),)
            weeks = (ctx.now - quiet.since).days // 7
            if quiet.met_before:
                text = f"It's been {weeks} weeks since you last met. Rotas are hard; shall I suggest some times?"
            else:
                text = "You haven't had your first buddy meeting yet. Rotas are hard; shall I suggest some times?"
            # Asked again as it goes out: held back by someone's quiet hours, it may no longer be deserved.
            message = Message(text, choices=options, intent="quiet_pair_nudge", recount=f"nudge:{pair.id}")
            for member in members:
                ctx.send_to(member, message, f"pair:{pair.id}:nudge:{stamp}:to:{member.id}", cohort.id)
            pair.nudged_at = ctx.now
            acted += 1
        elif ctx.now - pair.nudged_at >= timedelta(weeks=ctx.options.escalate_weeks_after_nudge) and (
                pair.escalated_at is None or pair.escalated_at < pair.nudged_at):
            nudged = short_date(pair.nudged_at.astimezone(ZoneInfo(cohort.timezone)), weekday=True)
            ctx.tell_coordinators(cohort, f"{names(members)}: {quiet.reason}. I nudged them on {nudged} and they "
                                          f"are still quiet; a word from you may help.",
                                  key=f"pair:{pair.id}:escalate:{stamp}",
                                  intent="quiet_pair_escalation")
            pair.escalated_at = ctx.now
            acted += 1
    return acted
