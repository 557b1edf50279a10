"""A cohort's figures at one moment: what `status` shows a coordinator and what the facilitators'
digest says, computed once, the same way for both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import Cohort, Meeting, Pair, Participant, StepRun, SurveyResponse
from bot.programme import SHADOWING_DIRECTIONS, SURVEY_INTENTS, Programme, Step
from bot.surveys import get_survey

# How each shadowing direction reads in a message.
DIRECTIONS = {d: " → ".join(d.split("_shadows_")) for d in SHADOWING_DIRECTIONS}


@dataclass(frozen=True)
class CohortFigures:
    people: dict[str, int]  # participant status -> count
    pairs: int
    proposed: int
    meetings_target: int  # per pair
    meetings_held: int
    meetings_held_since: int  # since the `since` asked for (the digest's week)
    shadowing: dict[str, int]  # direction -> pairs that did it
    quiet: list[tuple[int, int]]  # (pair id, whole weeks since they last met), quietest first
    surveys: list[tuple[str, int, int]]  # (title, answered, people) for surveys sent so far
    upcoming: list[tuple[datetime, Step]]

    @property
    def active(self) -> int:
        return self.people.get("active", 0)

    def quiet_pairs(self, session: Session, limit: int) -> list[tuple[Pair, int]]:
        """The quietest pairs with their members loaded, for naming them (a few, not thousands)."""
        return [(session.get(Pair, pair_id), weeks) for pair_id, weeks in self.quiet[:limit]]


def quiet_weeks(last_met_at: datetime | None, introduced_at: datetime | None, now: datetime) -> int | None:
    last = last_met_at or introduced_at
    return None if last is None else (now - last).days // 7


def cohort_figures(session: Session, cohort: Cohort, now: datetime, quiet_after_weeks: int,
                   since: datetime | None = None) -> CohortFigures:
    programme = Programme.from_dict(cohort.programme)
    # Plain columns: a cohort of thousands should not load every pair and member to count them.
    pairs = session.execute(select(Pair.id, Pair.last_met_at, Pair.introduced_at).where(
        Pair.cohort_id == cohort.id, Pair.status == "active").order_by(Pair.id)).all()
    proposed = session.scalar(select(func.count()).select_from(Pair).where(
        Pair.cohort_id == cohort.id, Pair.status == "proposed")) or 0
    people = dict(session.execute(select(Participant.status, func.count()).where(
        Participant.cohort_id == cohort.id).group_by(Participant.status)).all())
    held = list(session.scalars(select(Meeting.outcome_at).where(
        Meeting.cohort_id == cohort.id, Meeting.kind == "buddy", Meeting.status == "held")))
    since = since or now - timedelta(weeks=1)
    shadowing = dict(session.execute(
        select(Meeting.direction, func.count(func.distinct(Meeting.pair_id)))
        .where(Meeting.cohort_id == cohort.id, Meeting.kind == "shadowing", Meeting.status == "held")
        .group_by(Meeting.direction)).all())
    quiet = sorted(((pid, w) for pid, met, intro in pairs
                    if (w := quiet_weeks(met, intro, now)) is not None and w >= quiet_after_weeks),
                   key=lambda pw: (-pw[1], pw[0]))
    ran = set(session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
    answered = dict(session.execute(
        select(SurveyResponse.survey, func.count(func.distinct(SurveyResponse.participant_id)))
        .join(Participant, Participant.id == SurveyResponse.participant_id)
        .where(Participant.cohort_id == cohort.id).group_by(SurveyResponse.survey)).all())
    surveys, seen = [], set()
    for step in programme.steps:
        if step.intent in SURVEY_INTENTS and step.id in ran:
            survey = get_survey(step.params.get("survey") or step.intent)
            if survey.id not in seen:
                seen.add(survey.id)
                surveys.append((survey.title, answered.get(survey.id, 0), people.get("active", 0)))
    upcoming = [(due, s) for due, s in programme.timeline(cohort.start_date, cohort.timezone) if s.id not in ran]
    return CohortFigures(people, len(pairs), proposed, programme.meetings_target, len(held),
                         sum(1 for at in held if at is not None and at >= since), shadowing, quiet, surveys,
                         upcoming[:3])
