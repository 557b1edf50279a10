"""The facilitators' digest: a short message, weekly and at each milestone, to the cohort's
facilitators and coordinators: meetings held this week and against target, shadowing each way,
contracts agreed, open surveys and who has not answered, offers nobody has booked, workshop
headcounts, project stages, pairs gone quiet and what comes next. Written to be read on a phone.

Its figures are counted when it goes out: the delivery worker asks for it again (`recount`) just
before sending, so a digest held back by a facilitator's quiet hours is not hours out of date."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.context import FlowContext, names, pair_members
from bot.figures import DIRECTIONS, CohortFigures, cohort_figures, quiet_note, step_label
from bot.messages import Message
from bot.dates import short_date
from bot.models import Cohort

# Steps after which the facilitators hear how things stand; a workshop's digest is a wake-up when it
# ends (group_meeting.meeting_for_step asks for it).
MILESTONES = ("post_survey",)
QUIET_SHOWN = 5
# A line longer than this wraps to more than three lines on a phone; lists of names stop short of
# it and say how many more there are (status lists them all). A line that has nothing to say (no
# offers waiting, no contract asked for yet) is left out, so a digest is nine lines at most plus one
# per open survey and coming workshop (the default programme rarely has two of either at once).
LINE_WIDTH = 120


def fit(head: str, items: list[str], total: int | None = None, sep: str = ", ", width: int = LINE_WIDTH) -> str:
    """`head` and as many of `items` as fit in `width`, then "+N more" for the rest of `total`."""
    total = len(items) if total is None else total
    shown: list[str] = []
    for item in items:
        rest = total - len(shown) - 1
        line = head + sep.join([*shown, item]) + (f" +{rest} more" if rest else "")
        if len(line) > width and shown:
            break
        shown.append(item)
    rest = total - len(shown)
    return head + sep.join(shown) + (f" +{rest} more" if rest else "")


def _meetings(f: CohortFigures) -> str:
    week = f"{f.meetings_held_since}"
    if f.shadowing_held_since:
        week += f" incl. {f.shadowing_held_since} shadowing"
    return f"Meetings this week: {week} (all: {f.meetings_held} of {f.meetings_target * f.pairs})"


def _surveys(f: CohortFigures) -> list[str]:
    lines = [fit(f"{s.title}: {s.answered}/{s.asked} answered" + ("; not yet: " if s.not_answered else ""),
                 list(s.not_answered))
             for s in f.open_surveys]
    closed = [f"{s.title}: {s.answered}/{s.asked} answered" for s in f.surveys if not s.open]
    if closed:
        lines.append(fit("Closed: ", closed[::-1], sep="; "))  # the latest first
    return lines


def digest(ctx: FlowContext, cohort: Cohort, heading: str) -> Message:
    f = cohort_figures(ctx, cohort, since=ctx.now - timedelta(weeks=1))
    tz = ZoneInfo(cohort.timezone)
    pairs = f.pairs
    quiet = [f"{names(pair_members(p))} ({quiet_note(p, weeks, tz)})"
             for p, weeks in f.quiet_pairs(ctx.session, QUIET_SHOWN)]
    if len(f.quiet) > QUIET_SHOWN:
        quiet.append(f"{len(f.quiet) - QUIET_SHOWN} more")
    lines = [
        f"{cohort.name}: {heading}",
        _meetings(f),
        "Shadowing: " + ", ".join(f"{label} {f.shadowing.get(key, 0)}/{pairs}" for key, label in DIRECTIONS.items()),
        "Quiet pairs: " + ("; ".join(quiet) if quiet else "none"),
    ]
    if f.contract_asked or f.contracts_agreed:
        head = f"Contracts: {f.contracts_agreed}/{pairs} agreed" + ("; not yet: " if f.without_contract else "")
        lines.append(fit(head, [p.names for p in f.without_contract], sep="; "))
    lines += _surveys(f)
    if f.waiting:
        lines.append(fit(f"Offered, not booked: {len(f.waiting)}: ",
                         [f"{w.pair.names} {w.what} since {short_date(w.since.astimezone(tz))}" for w in f.waiting],
                         sep="; "))
    lines += [f"{w.title} {short_date(w.at.astimezone(tz), weekday=True)}{', held' if w.held else ''}: "
              f"{w.yes} yes, {w.maybe} maybe, {w.no} no, "
              f"{w.not_answered} not answered" for w in f.workshops]
    if f.project_asked:
        lines.append("Projects: " + ", ".join(f"{stage} {n}" for stage, n in f.project_stages.items()))
    if f.upcoming:
        upcoming = [f"{due:%a} {due.day} {due:%b} {step_label(step)}" for due, step in f.upcoming[:2]]
        line = "Next: " + "; ".join(upcoming)
        # A long workshop title may take the line: the second step waits for the next digest.
        lines.append(line if len(line) <= LINE_WIDTH else f"Next: {upcoming[0]}")
    return Message("\n".join(lines), intent="digest", recount=f"digest:{cohort.id}:{heading}")


def recount(ctx: FlowContext, message: Message) -> Message:
    """The digest `message` asks for, counted now (the message itself if its cohort is gone)."""
    _, cohort_id, heading = message.recount.split(":", 2)
    cohort = ctx.session.get(Cohort, int(cohort_id))
    return digest(ctx, cohort, heading) if cohort is not None else message


def send(ctx: FlowContext, cohort: Cohort, heading: str, key: str) -> int:
    """To every facilitator and coordinator (once each, whoever holds both roles)."""
    message = digest(ctx, cohort, heading)
    staff = {p.id: p for role in ("facilitator", "coordinator") for p in ctx.staff(cohort, role)}
    for person in staff.values():
        ctx.send_to_person(person, message, f"{key}:to:{person.id}", cohort.id)
    return len(staff)


def after_workshop(ctx: FlowContext, meeting_id: int) -> int:
    """Wake-up when a workshop is over: the milestone digest, counted then."""
    from bot.models import Meeting
    from bot.programme import Programme

    meeting = ctx.session.get(Meeting, meeting_id)
    cohort = ctx.session.get(Cohort, meeting.cohort_id) if meeting is not None else None
    if cohort is None or cohort.status != "running":
        return 0
    week = next((s.week for s in Programme.from_dict(cohort.programme).steps if s.id == meeting.step_id), None)
    heading = f"after {meeting.title}" + (f" (week {week})" if week is not None else "")
    return send(ctx, cohort, heading, f"digest:{cohort.id}:milestone:{meeting.step_id}")


def pending_after_workshops(ctx: FlowContext):
    """Workshops whose digest is still to come (for the timeline to re-arm after a restart)."""
    from sqlalchemy import select

    from bot.flows.group_meeting import ends_at
    from bot.models import Meeting

    recent = ctx.now - timedelta(days=2)
    return [(m.id, ends_at(m)) for m in ctx.session.scalars(select(Meeting).where(
        Meeting.kind == "group", Meeting.status == "agreed", Meeting.agreed_at > recent))]
