"""Seeing how a cohort is doing: `status` (the cohort, or one pair) and `export` (a CSV of each
person's activity)."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import rota
from bot.flows import quiet as quiet_rule
from bot.commands.common import Call, CommandSpec, find_cohort, find_pair, named_profile, options, pair_label
from bot.context import pair_members
from bot.messages import Document, Message
from bot.dates import short_date
from bot.figures import DIRECTIONS, cohort_figures, finished, offered, quiet_note, quiet_weeks, sent_surveys, step_label
from bot.flows.survey import closes_at
from bot.models import (Cohort, Contract, Meeting, Pair, PairMember, Participant, Project, Reflection, Rsvp, StepRun,
                        SurveyResponse)
from bot.programme import Programme

RSVP_WORDS = {"yes": "yes", "maybe": "maybe", "no": "no", "": "not answered"}


def _cohort_status(call: Call, cohort: Cohort) -> Message:
    f = cohort_figures(call.ctx, cohort)
    tz = ZoneInfo(cohort.timezone)
    quiet = [f"{pair_label(p)} ({quiet_note(p, w, tz, f.quiet_reasons.get(p.id, ''))})"
             for p, w in f.quiet_pairs(call.session, 10)]
    if not f.contract_asked and not f.contracts_agreed:
        contracts = f"Contracts agreed: 0 of {f.pairs} (not asked yet)"
    else:
        contracts = f"Contracts agreed: {f.contracts_agreed} of {f.pairs}" + (
            "; not yet: " + ", ".join(p.label for p in f.without_contract) if f.without_contract else "")
    surveys = []
    for s in f.surveys:
        if s.open:
            until = short_date(s.closes_at.astimezone(tz), weekday=True)
            surveys.append(f"{s.title} (open until {until}): {s.answered} of {s.asked} answered"
                           + ("; not yet: " + ", ".join(s.not_answered) if s.not_answered else ""))
        else:
            surveys.append(f"{s.title} (closed {short_date(s.closes_at.astimezone(tz))}): {s.answered} of {s.asked} answered")
    waiting = [f"{w.pair.label}: {w.what} since {short_date(w.since.astimezone(tz))}"
               + (" (no offered time fitted; arranging it themselves)" if w.unscheduled else "") for w in f.waiting]
    lines = [
        f"{cohort.name} ({cohort.status}), starts {short_date(cohort.start_date, year=True)}",
        f"People: {f.active} active" + "".join(f", {f.people[s]} {s}" for s in ("paused", "removed") if f.people.get(s)),
        f"Pairs: {f.pairs}" + (f" (+{f.proposed} proposed)" if f.proposed else ""),
        f"Buddy meetings held: {f.meetings_held} of {f.meetings_target * f.pairs} ({f.meetings_target} per pair)",
        f"Meetings held in the last 7 days: {f.meetings_held_since}"
        + (f" ({f.shadowing_held_since} of them shadowing)" if f.shadowing_held_since else ""),
        "Shadowing: " + ", ".join(f"{label} {f.shadowing.get(key, 0)} of {f.pairs}"
                                  for key, label in DIRECTIONS.items()),
        contracts,
        *surveys,
        f"Offered, not booked: {len(f.waiting)}" + (": " + "; ".join(waiting) if waiting else ""),
        *(f"{w.title} on {short_date(w.at.astimezone(tz), weekday=True)}{' (held)' if w.held else ''}: "
          f"{w.yes} yes, {w.maybe} maybe, {w.no} no, "
          f"{w.not_answered} not answered" for w in f.workshops),
        "Projects: " + ", ".join(f"{stage} {n}" for stage, n in f.project_stages.items()),
        "Quiet pairs (no meeting held or booked for longer than their plan allows): "
        + (", ".join(quiet) + (f" and {len(f.quiet) - 10} more" if len(f.quiet) > 10 else "") if quiet else "none"),
        "Next: " + ("; ".join(f"{short_date(due)} {step_label(s)}" for due, s in f.upcoming) or "programme complete"),
    ]
    return Message("\n".join(lines), intent="status")


def _pair_status(call: Call, cohort: Cohort, pair: Pair) -> Message:
    session, now = call.session, call.ctx.now
    programme = Programme.from_dict(cohort.programme)
    tz = ZoneInfo(cohort.timezone)
    members = pair_members(pair)
    meetings = list(session.scalars(select(Meeting).where(Meeting.pair_id == pair.id).order_by(Meeting.id)))
    held = sum(1 for m in meetings if m.kind == "buddy" and m.status == "held")
    shadowed = {m.direction for m in meetings if m.kind == "shadowing" and m.status == "held"}
    surveys = defaultdict(set)
    for participant_id, survey in session.execute(
            select(SurveyResponse.participant_id, SurveyResponse.survey)
            .where(SurveyResponse.participant_id.in_([m.id for m in members]))):
        surveys[participant_id].add(survey)
    quiet = quiet_weeks(pair.last_met_at, pair.introduced_at, now)
    ran = set(session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
    contract = session.scalars(select(Contract).where(Contract.pair_id == pair.id)).first()
    if contract is not None and contract.completed_at:
        agreed = f"Contract agreed {short_date(contract.completed_at.astimezone(tz), year=True)}"
    elif any(s.intent == "contract" and s.id in ran for s in programme.steps):
        agreed = "Contract: not agreed yet"
    else:
        agreed = "Contract: not asked yet"
    asked = [m for m in members if m.status == "active"]
    open_surveys = []
    for survey, _step in sent_surveys(programme, ran):
        closes = closes_at(call.ctx, cohort.id, survey)
        if closes is None or now < closes:
            done = set(session.scalars(finished(survey, [m.id for m in asked])))
            missing = [m.person.name for m in asked if m.id not in done]
            open_surveys.append(f"{survey.title} (open until {short_date(closes.astimezone(tz), weekday=True)}): "
                                + (f"not yet answered by {', '.join(missing)}" if missing else "answered by all"))
    waiting = [m for m in meetings if m.kind in ("buddy", "shadowing") and m.status in ("proposed", "unscheduled")]
    workshops = list(session.scalars(select(Meeting).where(Meeting.cohort_id == cohort.id, Meeting.kind == "group",
                                                           Meeting.agreed_at > now).order_by(Meeting.agreed_at)))
    rsvps = {(r.meeting_id, r.participant_id): r.answer for r in session.scalars(
        select(Rsvp).where(Rsvp.meeting_id.in_([w.id for w in workshops]),
                           Rsvp.participant_id.in_([m.id for m in members])))}
    project = session.scalars(select(Project).where(Project.pair_id == pair.id)).first()
    lines = [
        f"{pair_label(pair)} ({pair.status}) in {cohort.name}",
        *(f"• {m.person.name}: {m.role}{', ' + m.profession if m.profession else ''}, {m.status}"
          f"{'' if m.person.reachable else ', unreachable'}; surveys: {', '.join(sorted(surveys[m.id])) or 'none'}"
          f"{_rota_words(m)}" for m in members),
        f"Why paired: {pair.rationale}" if pair.rationale else "",
        f"Introduced: {short_date(pair.introduced_at.astimezone(tz), year=True)}" if pair.introduced_at else "Not introduced yet",
        agreed,
        f"Buddy meetings held: {held} of {programme.meetings_target}",
        "Shadowing: " + ", ".join(f"{label} {'done' if key in shadowed else 'not yet'}"
                                  for key, label in DIRECTIONS.items()),
        f"Last met: {short_date(pair.last_met_at.astimezone(tz), year=True)}" if pair.last_met_at else "Not met yet",
        *open_surveys,
        *(f"Offered, not booked: {offered(m.kind, m.direction)} "
          f"since {short_date((m.outcome_at or m.created_at).astimezone(tz))}"
          + (" (no offered time fitted; arranging it themselves)" if m.status == "unscheduled" else "")
          for m in waiting),
        *(f"{w.title} on {short_date(w.agreed_at.astimezone(tz), weekday=True)}: "
          + ", ".join(f"{m.person.name} {RSVP_WORDS[rsvps.get((w.id, m.id), '')]}" for m in asked)
          for w in workshops),
        f"Project: {project.stage if project else 'none'}",
    ]
    reason = next((q.reason for q in quiet_rule.quiet_pairs(call.ctx, cohort) if q.pair.id == pair.id), None)
    if reason is not None and quiet is not None:
        nudged = f"; nudged {short_date(pair.nudged_at.astimezone(tz))}" if pair.nudged_at else ""
        lines.append(f"Quiet for {quiet} weeks: {reason}{nudged}")
    return Message("\n".join(line for line in lines if line), intent="status")


def _rota_words(member) -> str:
    summary = rota.plan_of(member).summary() if member.rota_plan else ""
    return f"; rota: {summary}" if summary else ""


def _status(call: Call) -> Message:
    words, opts = options(call.args, ("cohort",))
    token = " ".join(words)
    if words and (words[0].startswith("#") or named_profile(call, words[0]) or "@" in words[0]):
        cohort = find_cohort(call, opts.get("cohort"), open_only=False)
        return _pair_status(call, cohort, find_pair(call, cohort, words[0]))
    return _cohort_status(call, find_cohort(call, token or opts.get("cohort"), open_only=False))


EXPORT_COLUMNS = ("name", "email", "role", "profession", "site", "department", "grade", "status", "pair",
                  "buddies", "buddy_meetings_held", "shadowing_hosted", "shadowing_visited", "workshops_accepted",
                  "reflections", "surveys_answered", "last_met")


def export_rows(session, cohort: Cohort) -> list[dict[str, str]]:
    """One row per person: who they are and what they have done (no reflection or answer texts)."""
    participants = list(session.scalars(select(Participant).where(Participant.cohort_id == cohort.id)
                                        .order_by(Participant.id)).unique())
    memberships = session.execute(
        select(PairMember.participant_id, Pair).join(Pair, Pair.id == PairMember.pair_id)
        .where(Pair.cohort_id == cohort.id, Pair.status == "active")).all()
    pair_of = {pid: pair for pid, pair in memberships}
    meetings = list(session.scalars(select(Meeting).where(Meeting.cohort_id == cohort.id, Meeting.status == "held")))
    held_by_pair = Counter(m.pair_id for m in meetings if m.kind == "buddy")
    shadowing = defaultdict(set)
    for m in meetings:
        if m.kind == "shadowing":
            shadowing[m.pair_id].add(m.direction)
    reflections = Counter(session.scalars(select(Reflection.participant_id).join(
        Participant, Participant.id == Reflection.participant_id).where(Participant.cohort_id == cohort.id)))
    accepted = Counter(session.scalars(select(Rsvp.participant_id).join(Meeting, Meeting.id == Rsvp.meeting_id)
                                       .where(Meeting.cohort_id == cohort.id, Rsvp.answer == "yes")))
    surveys = defaultdict(set)
    for pid, survey in session.execute(select(SurveyResponse.participant_id, SurveyResponse.survey).join(
            Participant, Participant.id == SurveyResponse.participant_id).where(Participant.cohort_id == cohort.id)):
        surveys[pid].add(survey)
    rows = []
    for p in participants:
        pair = pair_of.get(p.id)
        buddies = [m.participant.person.name for m in pair.members if m.participant_id != p.id] if pair else []
        hosting = "manager_shadows_clinician" if p.role == "clinician" else "clinician_shadows_manager"
        visiting = "clinician_shadows_manager" if p.role == "clinician" else "manager_shadows_clinician"
        done = shadowing.get(pair.id, set()) if pair else set()
        rows.append({
            "name": p.person.name, "email": p.person.email or "", "role": p.role, "profession": p.profession,
            "site": p.site, "department": p.department, "grade": p.grade, "status": p.status,
            "pair": f"#{pair.id}" if pair else "", "buddies": "; ".join(buddies),
            "buddy_meetings_held": str(held_by_pair.get(pair.id, 0) if pair else 0),
            "shadowing_hosted": "yes" if hosting in done else "no",
            "shadowing_visited": "yes" if visiting in done else "no",
            "workshops_accepted": str(accepted.get(p.id, 0)), "reflections": str(reflections.get(p.id, 0)),
            "surveys_answered": "; ".join(sorted(surveys.get(p.id, ()))),
            "last_met": pair.last_met_at.date().isoformat() if pair and pair.last_met_at else "",
        })
    return rows


def export_csv(session, cohort: Cohort) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in export_rows(session, cohort):
        # A cell starting with = + - @ would run as a formula in Excel; a leading quote keeps it text.
        writer.writerow({k: ("'" + v if v[:1] in ("=", "+", "-", "@") else v) for k, v in row.items()})
    return out.getvalue()


def _export(call: Call) -> Message:
    cohort = find_cohort(call, " ".join(call.args) or None, open_only=False)
    content = export_csv(call.session, cohort)
    count = content.count("\n") - 1
    name = "".join(c if c.isalnum() else "-" for c in cohort.name).strip("-").lower() or "cohort"
    call.audit("export", f"{cohort.name}: {count} people")
    return Message(f"{cohort.name}: activity of {count} people (no reflection or survey texts).",
                   document=Document(f"pairbot-{name}-{call.ctx.now:%Y%m%d}.csv", "text/csv", content),
                   intent="export")


def _report(call: Call) -> Message:
    from bot.evaluation.report import summary
    from bot.evaluation.results import cohort_results

    cohort = find_cohort(call, " ".join(call.args) or None, open_only=False)
    return Message(summary(cohort_results(call.session, cohort)), intent="report")


COMMANDS = (
    CommandSpec("status", ("coordinator", "facilitator"), "the cohort at a glance, or one pair",
                "status, status #12, status @asha", _status),
    CommandSpec("export", ("coordinator",), "a CSV of each person's activity", "export", _export),
    CommandSpec("report", ("coordinator", "facilitator"), "the evaluation in a few lines (before/after, engagement)",
                "report", _report),
)
