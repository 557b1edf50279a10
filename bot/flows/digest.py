"""The facilitators' digest: a short message, weekly and at each milestone, to the cohort's
facilitators and coordinators: meetings this week and against target, shadowing each way, pairs
gone quiet, survey completion and what comes next. Written to be read on a phone."""

from __future__ import annotations

from datetime import timedelta

from bot.context import FlowContext, names, pair_members
from bot.figures import DIRECTIONS, cohort_figures
from bot.messages import Message
from bot.models import Cohort

# Steps after which the facilitators hear how things stand (the workshops, the surveys at the ends).
MILESTONES = ("group_meeting", "post_survey")
QUIET_SHOWN = 5


def digest(ctx: FlowContext, cohort: Cohort, heading: str) -> Message:
    f = cohort_figures(ctx.session, cohort, ctx.now, ctx.options.quiet_nudge_weeks,
                       since=ctx.now - timedelta(weeks=1))
    pairs = f.pairs
    quiet = [f"{names(pair_members(p))} ({weeks} wk)" for p, weeks in f.quiet_pairs(ctx.session, QUIET_SHOWN)]
    if len(f.quiet) > QUIET_SHOWN:
        quiet.append(f"{len(f.quiet) - QUIET_SHOWN} more")
    lines = [
        f"{cohort.name}: {heading}",
        f"Meetings this week: {f.meetings_held_since} (all: {f.meetings_held} of {f.meetings_target * pairs})",
        "Shadowing: " + ", ".join(f"{label} {f.shadowing.get(key, 0)}/{pairs}" for key, label in DIRECTIONS.items()),
        f"Quiet {ctx.options.quiet_nudge_weeks}+ weeks: " + ("; ".join(quiet) if quiet else "none"),
    ]
    lines += [f"{title}: {done}/{people} answered" for title, done, people in f.surveys]
    if f.upcoming:
        lines.append("Next: " + "; ".join(f"{due:%a} {due.day} {due:%b} {step.intent.replace('_', ' ')}"
                                          for due, step in f.upcoming[:2]))
    return Message("\n".join(lines), intent="digest")


def send(ctx: FlowContext, cohort: Cohort, heading: str, key: str) -> int:
    """To every facilitator and coordinator (once each, whoever holds both roles)."""
    message = digest(ctx, cohort, heading)
    staff = {p.id: p for role in ("facilitator", "coordinator") for p in ctx.staff(cohort, role)}
    for person in staff.values():
        ctx.send_to_person(person, message, f"{key}:to:{person.id}", cohort.id)
    return len(staff)
