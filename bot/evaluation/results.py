"""What a cohort achieved, read from the database: per item before/after changes for clinicians,
managers and everyone, engagement figures, and the free-text answers people agreed to share."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.evaluation.stats import Change, compare
from bot.models import Cohort, ErasedCount, Meeting, Pair, Participant, Project, Rsvp, StepRun, SurveyResponse
from bot.programme import SHADOWING_DIRECTIONS, SURVEY_INTENTS, Programme
from bot.surveys import Item, get_survey

PRE, POST = "pre_survey", "post_survey"
GROUPS = ("clinicians", "managers", "everyone")
DOMAINS = {"knowledge": "Knowledge and ability", "preparedness": "Preparedness to lead", "agreement": "Attitudes"}
FREE_TEXT_ITEMS = ("most_valuable", "pulse_barrier")
CONSENT_ITEM = "share_free_text"
PROJECT_STAGES = ("none", "identified", "planned", "tested", "presented")


@dataclass(frozen=True)
class ItemResult:
    item: Item
    changes: dict[str, Change]  # group -> change

    @property
    def domain(self) -> str:
        return DOMAINS.get(self.item.scale, self.item.scale or "Other")


@dataclass
class Engagement:
    pairs: int = 0
    meetings_target: int = 0
    meetings_held: int = 0
    shadowing: dict[str, int] = field(default_factory=dict)  # direction -> pairs that did it
    workshops: dict[str, tuple[int, int]] = field(default_factory=dict)  # title -> (accepted, invited)
    project_stages: dict[str, int] = field(default_factory=dict)
    survey_completion: dict[str, tuple[int, int]] = field(default_factory=dict)  # title -> (done, people)
    meetings_by_week: dict[int, int] = field(default_factory=dict)  # programme week -> meetings held


@dataclass
class CohortResults:
    cohort_name: str
    start: date
    people: dict[str, int]  # role -> count
    items: list[ItemResult]
    engagement: Engagement
    shared_comments: list[tuple[str, str]]  # (question, answer), only from people who agreed
    distributions: dict[str, dict[str, list[int]]]  # domain -> {"before": [...], "after": [...]}


def _answers(session: Session, cohort: Cohort) -> tuple[dict, dict[int, str]]:
    """{(survey, item): {participant: value or text}} and each participant's role."""
    roles = dict(session.execute(select(Participant.id, Participant.role).where(Participant.cohort_id == cohort.id)).all())
    answers: dict[tuple[str, str], dict[int, object]] = defaultdict(dict)
    for pid, survey, item, value, text in session.execute(
            select(SurveyResponse.participant_id, SurveyResponse.survey, SurveyResponse.item, SurveyResponse.value,
                   SurveyResponse.text)
            .join(Participant, Participant.id == SurveyResponse.participant_id)
            .where(Participant.cohort_id == cohort.id).order_by(SurveyResponse.id)):
        answers[(survey, item)][pid] = value if value is not None else text  # the latest answer counts
    return answers, roles


def _in_group(role: str, group: str) -> bool:
    return group == "everyone" or role == group.rstrip("s")


def item_results(answers: dict, roles: dict[int, str]) -> list[ItemResult]:
    results = []
    for item in get_survey(PRE).items:
        if item.kind != "scale":
            continue
        before, after = answers.get((PRE, item.id), {}), answers.get((POST, item.id), {})
        linked = sorted(pid for pid in before if pid in after and isinstance(before[pid], int)
                        and isinstance(after[pid], int))
        changes = {}
        for group in GROUPS:
            people = [pid for pid in linked if _in_group(roles.get(pid, ""), group)]
            changes[group] = compare([before[p] for p in people], [after[p] for p in people])
        results.append(ItemResult(item, changes))
    return results


def _engagement(session: Session, cohort: Cohort, answers: dict, roles: dict[int, str]) -> Engagement:
    programme = Programme.from_dict(cohort.programme)
    pairs = list(session.scalars(select(Pair).where(Pair.cohort_id == cohort.id, Pair.status == "active")))
    meetings = list(session.scalars(select(Meeting).where(Meeting.cohort_id == cohort.id)))
    held = [m for m in meetings if m.kind == "buddy" and m.status == "held"]
    shadowing = Counter()
    for direction in SHADOWING_DIRECTIONS:
        shadowing[direction] = len({m.pair_id for m in meetings if m.kind == "shadowing" and m.status == "held"
                                    and m.direction == direction})
    # People who asked to be forgotten still count, anonymously.
    erased = dict(session.execute(select(ErasedCount.measure, func.sum(ErasedCount.count))
                                  .where(ErasedCount.cohort_id == cohort.id).group_by(ErasedCount.measure)).all())
    workshops = {}
    for meeting in sorted((m for m in meetings if m.kind == "group"), key=lambda m: m.agreed_at or m.created_at):
        rsvps = list(session.scalars(select(Rsvp.answer).where(Rsvp.meeting_id == meeting.id)))
        accepted = rsvps.count("yes") + int(erased.get(f"workshop:{meeting.id}:accepted", 0))
        workshops[meeting.title or meeting.step_id] = (accepted, len(roles))
    stages = Counter(session.scalars(select(Project.stage).join(Pair, Pair.id == Project.pair_id)
                                     .where(Pair.cohort_id == cohort.id, Pair.status == "active")))
    ran = set(session.scalars(select(StepRun.step_id).where(StepRun.cohort_id == cohort.id)))
    active = len(roles)
    completion = {}
    for step in programme.steps:
        if step.intent in SURVEY_INTENTS and step.id in ran:
            survey = get_survey(step.params.get("survey") or step.intent)
            required = [i.id for i in survey.items if not i.optional]
            done = sum(1 for pid in roles if all(pid in answers.get((survey.id, i), {}) for i in required))
            completion[survey.title] = (done + int(erased.get(f"survey:{survey.id}:answered", 0)), active)
    by_week = Counter()
    for meeting in held:
        when = meeting.agreed_at or meeting.outcome_at or meeting.created_at
        by_week[(when.date() - cohort.start_date).days // 7] += 1
    return Engagement(len(pairs), programme.meetings_target * len(pairs), len(held), dict(shadowing), workshops,
                      {stage: stages.get(stage, 0) for stage in PROJECT_STAGES}, completion, dict(sorted(by_week.items())))


def _shared_comments(answers: dict) -> list[tuple[str, str]]:
    consented = {pid for pid, answer in answers.get((POST, CONSENT_ITEM), {}).items() if answer == "yes"}
    comments = []
    for survey_id, item_id in ((POST, "most_valuable"), ("pulse", "pulse_barrier")):
        question = get_survey(survey_id).item(item_id).text
        for pid, text in sorted(answers.get((survey_id, item_id), {}).items()):
            if pid in consented and isinstance(text, str) and text.strip():
                comments.append((question, text.strip()))
    return comments


def _distributions(answers: dict, results: list[ItemResult]) -> dict[str, dict[str, list[int]]]:
    found: dict[str, dict[str, list[int]]] = {}
    for result in results:
        linked = [p for p in answers.get((PRE, result.item.id), {}) if p in answers.get((POST, result.item.id), {})]
        bucket = found.setdefault(result.domain, {"before": [], "after": []})
        bucket["before"] += [answers[(PRE, result.item.id)][p] for p in linked]
        bucket["after"] += [answers[(POST, result.item.id)][p] for p in linked]
    return found


def cohort_results(session: Session, cohort: Cohort) -> CohortResults:
    answers, roles = _answers(session, cohort)
    results = item_results(answers, roles)
    people = Counter(roles.values())
    return CohortResults(cohort.name, cohort.start_date, dict(people), results,
                         _engagement(session, cohort, answers, roles), _shared_comments(answers),
                         _distributions(answers, results))

