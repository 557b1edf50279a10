"""A cohort's figures at one moment: what `status` shows a coordinator and what the facilitators'
digest says, computed once, the same way for both.

Everything here is counted from the database when it is asked for, in the caller's unit of work,
at the caller's `now`: nothing is cached between calls, so a digest says what was true when it was
recorded."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.flows import quiet as quiet_rule
from bot.context import FlowContext
from bot.dates import short_date
from bot.flows.project import STAGES
from bot.flows.survey import closes_at
from bot.models import (Cohort, Contract, Meeting, Pair, PairMember, Participant, Person, Project, Rsvp, StepRun,
                        SurveyResponse)
from bot.programme import SHADOWING_DIRECTIONS, SURVEY_INTENTS, Programme, Step
from bot.steps import ROLE_AUDIENCES
from bot.surveys import Survey, get_survey

def step_label(step: Step) -> str:
    """A step as a coordinator reads it in "Next:": a group_meeting step sends the invitations (its
    workshop is days later), so it is named for them, not as the meeting itself."""
    if step.intent == "group_meeting":
        return f"invitations to {step.params.get('title') or 'a group meeting'}"
    return step.intent.replace("_", " ")


# How each shadowing direction reads in a message.
DIRECTIONS = {d: " → ".join(d.split("_shadows_")) for d in SHADOWING_DIRECTIONS}
MEMBER_ORDER = {"manager": 0, "clinician": 1}  # as context.pair_members: managers first


@dataclass(frozen=True)
class PairName:
    pair_id: int
    members: tuple[str, ...]

    @property
    def names(self) -> str:
        """"Ben Okafor and Dr Asha Patel", as the digest names a pair."""
        if len(self.members) <= 1:
            return "".join(self.members)
        return ", ".join(self.members[:-1]) + " and " + self.members[-1]

    @property
    def label(self) -> str:
        """"#12 Ben Okafor & Dr Asha Patel", as status names a pair (the number works in `status #12`)."""
        return f"#{self.pair_id} " + " & ".join(self.members)


@dataclass(frozen=True)
class SurveyFigure:
    title: str
    closes_at: datetime | None
    open: bool
    asked: int  # active participants the survey is for
    answered: int  # of those, how many answered every question that needs an answer
    not_answered: tuple[str, ...]  # their names, by name (only while the survey is open)


@dataclass(frozen=True)
class WaitingProposal:
    """Times offered for a buddy meeting or a shadowing visit that nobody has booked yet."""

    pair: PairName
    what: str  # "buddy meeting" | "shadowing manager → clinician"
    since: datetime
    unscheduled: bool  # no offered time fitted: the pair were asked to arrange one themselves


@dataclass(frozen=True)
class WorkshopHeadcount:
    title: str
    at: datetime
    yes: int
    maybe: int
    no: int
    not_answered: int
    held: bool = False  # it has begun: the answers are what was said before it


# A workshop stays in the figures this long after it began, so the digest written when it is over
# (and the next morning's) still gives its headcount.
HELD_SHOWN_FOR = timedelta(days=1)


@dataclass(frozen=True)
class CohortFigures:
    people: dict[str, int]  # participant status -> count
    pairs: int
    proposed: int
    meetings_target: int  # per pair
    meetings_held: int
    meetings_held_since: int  # buddy and shadowing meetings held at a time since `since` (the digest's week)
    shadowing_held_since: int  # of those, shadowing visits
    shadowing: dict[str, int]  # direction -> pairs that did it
    quiet: list[tuple[int, int]]  # (pair id, whole weeks since they last met), quietest first
    quiet_reasons: dict[int, str]  # pair id -> why it counts as quiet (bot/flows/quiet.py)
    surveys: list[SurveyFigure]  # surveys sent so far, in programme order
    contract_asked: bool  # a contract step has run
    contracts_agreed: int
    without_contract: list[PairName]
    waiting: list[WaitingProposal]  # oldest first
    workshops: list[WorkshopHeadcount]  # workshops coming or just held whose invitations went, soonest first
    project_asked: bool  # a project step has run
    project_stages: dict[str, int]  # stage -> active pairs at it, every stage in order
    upcoming: list[tuple[datetime, Step]]

    @property
    def active(self) -> int:
        return self.people.get("active", 0)

    @property
    def open_surveys(self) -> list[SurveyFigure]:
        return [s for s in self.surveys if s.open]

    def quiet_pairs(self, session: Session, limit: int) -> list[tuple[Pair, int]]:
        """The quietest pairs with their members loaded, for naming them (a few, not thousands)."""
        return [(session.get(Pair, pair_id), weeks) for pair_id, weeks in self.quiet[:limit]]


def quiet_weeks(last_met_at: datetime | None, introduced_at: datetime | None, now: datetime) -> int | None:
    last = last_met_at or introduced_at
    return None if last is None else (now - last).days // 7


def quiet_note(pair: Pair, weeks: int, tz: ZoneInfo, reason: str = "") -> str:
    """What status and the digest say after a quiet pair's names: how long, whether nudged (the
    day in the cohort's zone `tz`), and (in status, where there is room) why the pair counts as quiet."""
    note = f"{weeks} wk" + (f", nudged {short_date(pair.nudged_at.astimezone(tz))}" if pair.nudged_at else "")
    return f"{note}: {reason}" if reason else note


def offered(kind: str, direction: str) -> str:
    """What a waiting offer is for: "buddy meeting" or "shadowing manager → clinician"."""
    return "buddy meeting" if kind == "buddy" else f"shadowing {DIRECTIONS.get(direction, direction)}".strip()


def pair_names(session: Session, pair_ids: list[int]) -> dict[int, PairName]:
    """Members' names of these pairs in one query (plain columns, no pair objects)."""
    found: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for start in range(0, len(pair_ids), 500):
        for pair_id, role, participant_id, name in session.execute(
                select(PairMember.pair_id, Participant.role, Participant.id, Person.name)
                .join(Participant, Participant.id == PairMember.participant_id)
                .join(Person, Person.id == Participant.person_id)
                .where(PairMember.pair_id.in_(pair_ids[start:start + 500]))):
            found[pair_id].append((MEMBER_ORDER.get(role, 2), participant_id, name))
    return {pid: PairName(pid, tuple(name for *_, name in sorted(found[pid]))) for pid in pair_ids}


def _asked(cohort: Cohort, audience: str):
    """The participants a step is for: the cohort's active people, or one role of them."""
    query = select(Participant.id).where(Participant.cohort_id == cohort.id, Participant.status == "active")
    role = ROLE_AUDIENCES.get(audience)
    return query.where(Participant.role == role) if role else query


def finished(survey: Survey, among):
    """The participants (of the ids `among` selects) who answered every question of the survey that
    needs an answer: finished, not just started."""
    needed = [item.id for item in survey.items if not item.optional]
    return (select(SurveyResponse.participant_id)
            .where(SurveyResponse.survey == survey.id, SurveyResponse.item.in_(needed),
                   SurveyResponse.participant_id.in_(among))
            .group_by(SurveyResponse.participant_id)
            .having(func.count(func.distinct(SurveyResponse.item)) >= len(needed)))


def sent_surveys(programme: Programme, ran: set[str]) -> list[tuple[Survey, Step]]:
    """Each survey whose step has run, once, in programme order, with the step that sent it."""
    found: dict[str, tuple[Survey, Step]] = {}
    for step in programme.steps:
        if step.intent in SURVEY_INTENTS and step.id in ran:
            survey = get_survey(step.params.get("survey") or step.intent)
            found.setdefault(survey.id, (survey, step))
    return list(found.values())


def _survey_figure(ctx: FlowContext, cohort: Cohort, survey: Survey, step: Step) -> SurveyFigure:
    session = ctx.session
    closes = closes_at(ctx, cohort.id, survey)
    is_open = closes is None or ctx.now < closes
    asked = _asked(cohort, step.audience).subquery()
    done = finished(survey, select(asked.c.id))
    people = session.scalar(select(func.count()).select_from(asked)) or 0
    answered = session.scalar(select(func.count()).select_from(done.subquery())) or 0
    missing: tuple[str, ...] = ()
    if is_open:
        missing = tuple(session.scalars(
            select(Person.name).join(Participant, Participant.person_id == Person.id)
            .where(Participant.id.in_(select(asked.c.id)), Participant.id.not_in(done))
            .order_by(Person.name, Participant.id)))
    return SurveyFigure(survey.title, closes, is_open, people, answered, missing)


def _waiting(session: Session, cohort: Cohort) -> list[WaitingProposal]:
    rows = session.execute(
        select(Meeting.pair_id, Meeting.kind, Meeting.direction, Meeting.status, Meeting.created_at,
               Meeting.outcome_at)
        .join(Pair, Pair.id == Meeting.pair_id)
        .where(Meeting.cohort_id == cohort.id, Meeting.kind.in_(("buddy", "shadowing")),
               Meeting.status.in_(("proposed", "unscheduled")), Pair.status == "active")).all()
    named = pair_names(session, sorted({r.pair_id for r in rows}))
    waiting = [WaitingProposal(
        named[r.pair_id],
        offered(r.kind, r.direction),
        # A meeting they rescheduled has been waiting since they said so, not since the first offer.
        r.outcome_at or r.created_at, r.status == "unscheduled") for r in rows]
    return sorted(waiting, key=lambda w: (w.since, w.pair.pair_id))


def _workshops(session: Session, cohort: Cohort, programme: Programme, now: datetime) -> list[WorkshopHeadcount]:
    steps = {s.id: s for s in programme.steps}
    coming = session.execute(
        select(Meeting.id, Meeting.title, Meeting.agreed_at, Meeting.step_id)
        .where(Meeting.cohort_id == cohort.id, Meeting.kind == "group", Meeting.agreed_at > now - HELD_SHOWN_FOR)
        .order_by(Meeting.agreed_at, Meeting.id)).all()
    found = []
    for meeting_id, title, at, step_id in coming:
        step = steps.get(step_id)
        asked = _asked(cohort, step.audience if step else "each_member").subquery()
        answers = dict(session.execute(
            select(Rsvp.answer, func.count()).where(Rsvp.meeting_id == meeting_id,
                                                    Rsvp.participant_id.in_(select(asked.c.id)))
            .group_by(Rsvp.answer)).all())
        people = session.scalar(select(func.count()).select_from(asked)) or 0
        yes, maybe, no = answers.get("yes", 0), answers.get("maybe", 0), answers.get("no", 0)
        found.append(WorkshopHeadcount(title or "Workshop", at, yes, maybe, no, max(people - yes - maybe - no, 0),
                                       held=at <= now))
    return found


def cohort_figures(ctx: FlowContext, cohort: Cohort, since: datetime | None = None) -> CohortFigures:
    session, now = ctx.session, ctx.now
    programme = Programme.from_dict(cohort.programme)
    # Plain columns: a cohort of thousands should not load every pair and member to count them.
    pairs = session.execute(select(Pair.id, Pair.last_met_at, Pair.introduced_at).where(
        Pair.cohort_id == cohort.id, Pair.status == "active").order_by(Pair.id)).all()
    proposed = session.scalar(select(func.count()).select_from(Pair).where(
        Pair.cohort_id == cohort.id, Pair.status == "proposed")) or 0
    people = dict(session.execute(select(Participant.status, func.count()).where(
        Participant.cohort_id == cohort.id).group_by(Participant.status)).all())
    held = session.scalar(select(func.count()).select_from(Meeting).where(
        Meeting.cohort_id == cohort.id, Meeting.kind == "buddy", Meeting.status == "held")) or 0
    since = since or now - timedelta(weeks=1)
    # A meeting belongs to the week it was held in (its agreed time), not the week someone said so.
    # One the pair arranged themselves has no agreed time: the day they told us is all there is.
    held_at = func.coalesce(Meeting.agreed_at, Meeting.outcome_at)
    held_since = Counter(session.scalars(select(Meeting.kind).where(
        Meeting.cohort_id == cohort.id, Meeting.kind.in_(("buddy", "shadowing")), Meeting.status == "held",
        held_at >= since, held_at <= now)))
    # Of the pairs counted (active ones), as contracts and projects are: "3/2" would read as nonsense.
    active_pairs = select(Pair.id).where(Pair.cohort_id == cohort.id, Pair.status == "active")
    shadowing = dict(session.execute(
        select(Meeting.direction, func.count(func.distinct(Meeting.pair_id)))
        .where(Meeting.cohort_id == cohort.id, Meeting.kind == "shadowing", Meeting.status == "held",
               Meeting.pair_id.in_(active_pairs))
        .group_by(Meeting.direction)).all())
    # The same rule as the nudges, so what the coordinator reads is what the pairs were sent.
    found = quiet_rule.quiet_pairs(ctx, cohort)
    quiet = sorted(((q.pair.id, (now - q.since).days // 7) for q in found), key=lambda pw: (-pw[1], pw[0]))
    quiet_reasons = {q.pair.id: q.reason for q in found}
    ran = set(session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
    surveys = [_survey_figure(ctx, cohort, survey, step) for survey, step in sent_surveys(programme, ran)]
    agreed = set(session.scalars(select(Contract.pair_id).where(
        Contract.pair_id.in_(active_pairs), Contract.completed_at.is_not(None))))
    named = pair_names(session, [pid for pid, _, _ in pairs if pid not in agreed])
    stages = Counter(dict(session.execute(select(Project.stage, func.count()).where(
        Project.pair_id.in_(active_pairs)).group_by(Project.stage)).all()))
    stages["none"] += len(pairs) - sum(stages.values())  # a pair that has not said is at "none"
    upcoming = [(d.due, d.step) for d in ctx.timeline(cohort) if d.step.id not in ran]
    return CohortFigures(
        people=people, pairs=len(pairs), proposed=proposed, meetings_target=programme.meetings_target,
        meetings_held=held, meetings_held_since=sum(held_since.values()),
        shadowing_held_since=held_since.get("shadowing", 0), shadowing=shadowing, quiet=quiet,
        quiet_reasons=quiet_reasons, surveys=surveys,
        contract_asked=any(s.intent == "contract" and s.id in ran for s in programme.steps),
        contracts_agreed=len(agreed), without_contract=list(named.values()), waiting=_waiting(session, cohort),
        workshops=_workshops(session, cohort, programme, now),
        project_asked=any(s.intent == "project" and s.id in ran for s in programme.steps),
        project_stages={stage: stages.get(stage, 0) for stage in STAGES}, upcoming=upcoming[:3])
