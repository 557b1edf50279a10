"""`pairbot demo`: a whole four-month programme for 12 made-up people, through the real timeline
on programme time, with simulated participants, a readable transcript and integrity counts."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select

from adapters.console.simulation import DEFAULT_START, Habits, Line, SimulatedPerson, run_cohort, span
from bot.db import Database
from bot.integrity import Integrity
from bot.models import Delivery, Meeting, Pair, Participant, Reflection, StepRun, SurveyResponse
from bot.programme import default_programme
from bot.surveys import get_survey

DEMO_DATABASE = "pairbot-demo.sqlite"
TIMEZONE = "Europe/London"

# (name, role, profession, department, availability)
PEOPLE = [
    ("Dr Asha Patel", "clinician", "Anaesthetics registrar", "Theatres", "Mon 12:00-14:00, Wed 17:00-19:00, Fri 12:00-13:30"),
    ("Ben Okafor", "manager", "General manager", "Surgery", "Mon 12:30-15:00, Wed 16:00-18:00, Thu 09:00-11:00, Fri 12:00-14:00"),
    ("Nurse Carys Jones", "clinician", "Ward sister", "Acute medicine", "Tue 14:00-16:00, Thu 14:00-16:00"),
    ("Dan Murphy", "manager", "Operations manager", "Medicine", "Tue 13:00-17:00, Thu 13:00-17:00"),
    ("Dr Ewa Nowak", "clinician", "Paediatrics registrar", "Children's", "Mon 08:00-09:30, Thu 18:00-20:00"),
    ("Farah Ali", "manager", "Service manager", "Women's and children's", "Mon 08:00-10:00, Thu 17:00-19:00"),
    ("Gareth Hughes", "clinician", "Physiotherapist", "Therapies", "Wed 12:00-14:00, Fri 10:00-12:00"),
    ("Hannah Smith", "manager", "Finance business partner", "Finance", "Wed 11:00-14:00, Fri 09:00-12:00"),
    ("Dr Imran Shah", "clinician", "Emergency medicine ST4", "Emergency", "Tue 10:00-12:00, Sat 10:00-12:00"),
    ("Jo Williams", "manager", "Capacity manager", "Patient flow", "Tue 09:00-12:00, Wed 09:00-11:00"),
    ("Kemi Adeyemi", "clinician", "Pharmacist", "Pharmacy", "Mon 15:00-17:00, Thu 12:00-13:00"),
    ("Liam Brown", "manager", "Project manager", "Transformation", "Mon 14:00-17:00, Thu 11:00-13:30"),
]
QUIET_PAIR = 2  # pair index (0-based) that goes quiet until nudged
NONSENSE_PERSON = 6  # Gareth answers his first survey question with nonsense
LATE_PERSON = 8  # Imran, on emergency department shifts, answers a day or more later
TYPING_PERSON = 10  # Kemi often types the number or the label instead of clicking
# Imran works a night a month in four; Kemi rotates to another post in May (her coordinator hears first).
ROTAS = {LATE_PERSON: "nights 1 in 4 from 10 Mar", TYPING_PERSON: "rotate 19 May"}
FEATURED = {"u01", "u02", "u05", "u06", "u07", "coordinator"}


def demo_people() -> list[SimulatedPerson]:
    people = []
    for index, (name, role, profession, department, availability) in enumerate(PEOPLE):
        habits = Habits(quiet_until_nudged=index // 2 == QUIET_PAIR, nonsense_first=index == NONSENSE_PERSON,
                        late=index == LATE_PERSON, types=0.5 if index == TYPING_PERSON else 0.0)
        people.append(SimulatedPerson(name, role, availability, profession, department, habits,
                                      rota=ROTAS.get(index, "")))
    return people


@dataclass
class DemoSummary:
    pairs: int
    meetings_held: int
    meetings_target: int
    shadowing: dict
    reflections: int
    surveys: dict
    nudges: int
    escalations: int
    coordinator_alerts: int
    steps_run: int
    steps_total: int
    deliveries_sent: int
    wall_seconds: float
    integrity: Integrity
    transcript_lines: int

    def render(self) -> str:
        pre, post = self.surveys.get("pre_survey", (0, 0)), self.surveys.get("post_survey", (0, 0))
        lines = [
            "=" * 72,
            "Summary of the demo cohort",
            f"  Programme steps run:          {self.steps_run} of {self.steps_total}",
            f"  Pairs:                        {self.pairs}",
            f"  Buddy meetings held:          {self.meetings_held} (target {self.meetings_target})",
            f"  Shadowing, manager->clinician: {self.shadowing.get('manager_shadows_clinician', 0)}",
            f"  Shadowing, clinician->manager: {self.shadowing.get('clinician_shadows_manager', 0)}",
            f"  Reflections written:          {self.reflections} (private to their authors)",
            f"  Baseline survey complete:     {pre[0]} of {pre[1]}",
            f"  Final survey complete:        {post[0]} of {post[1]}",
        ]
        for survey_id in ("fit_check", "pulse", "follow_up"):
            done, total = self.surveys.get(survey_id, (0, 0))
            lines.append(f"  {survey_id.replace('_', ' ').capitalize() + ' complete:':30}{done} of {total}")
        lines += [
            f"  Quiet-pair nudge messages:    {self.nudges}; escalations to the coordinator: {self.escalations}",
            f"  Messages delivered:           {self.deliveries_sent}",
            f"  Ran in {self.wall_seconds:.1f} s of wall-clock time",
            "=" * 72,
        ]
        return "\n".join(lines)


class Screen:
    """The lines shown while the demo runs: the featured people's story, each day's heading before
    its first shown line, paced so the programme takes about `seconds` (0: as fast as it goes)."""

    def __init__(self, out: Callable[[str], None], featured: set[str] | None, seconds: float,
                 origin: datetime, end: datetime):
        self.out = out
        self.featured = featured
        self.seconds = seconds
        self.origin, self.end = origin, end
        self.started = time.monotonic()
        self._heading: str | None = None

    def show(self, line: Line) -> None:
        if line.users is None:
            self._heading = line.text
            return
        if line.routine or (self.featured is not None and not line.users & self.featured):
            return
        if self._heading:
            self.out(self._heading)
            self._heading = None
        self.out(line.text)

    async def before_jump(self, _now: datetime, upcoming: datetime) -> None:
        if self.seconds <= 0:
            return
        share = (upcoming - self.origin) / (self.end - self.origin)
        ahead = self.started + share * self.seconds - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)


def _reset_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            candidate.unlink()


async def run_demo(out: Callable[[str], None] = print, database: Path = Path(DEMO_DATABASE),
                   seconds: float = 0.0, seed: int = 7, transcript_path: Path | None = None,
                   show_everyone: bool = False, start: date = DEFAULT_START) -> DemoSummary:
    """Run the demo cohort; `seconds` paces the screen (0: no pacing), never the programme."""
    started = time.monotonic()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    _reset_database(database)
    programme = default_programme()
    origin, end = span(programme, start, TIMEZONE)
    screen = Screen(out, None if show_everyone else FEATURED, seconds, origin, end)
    out(f"Pairbot demo: a {programme.name.lower()} for 6 pairs, starting {start:%a} {start.day} {start:%b %Y}, on programme "
        f"time: the clock jumps to whatever is due next once everyone has answered.")
    if not show_everyone:
        out("Showing two pairs, the quiet pair and the coordinator; everyone else is in the transcript file.")
    groups = [(2 * i, 2 * i + 1) for i in range(len(PEOPLE) // 2)]
    result = await run_cohort(f"sqlite:///{database}", demo_people(), groups, seed=seed, start=start,
                              programme=programme, zone=TIMEZONE, cohort_name="Demo cohort",
                              on_line=screen.show, before_jump=screen.before_jump)
    if transcript_path is not None:
        text = "\n".join(result.transcript + ["", *result.integrity.lines()]) + "\n"
        transcript_path.write_text(text, encoding="utf-8")
    db = Database(f"sqlite:///{database}")
    try:
        return _summarise(db, result.cohort_id, programme, time.monotonic() - started, result.integrity,
                          len(result.transcript))
    finally:
        db.dispose()


def _summarise(db: Database, cohort_id: int, programme, wall: float, integrity: Integrity,
               transcript_lines: int) -> DemoSummary:
    with db.session() as session:
        participants = list(session.scalars(select(Participant.id).where(Participant.cohort_id == cohort_id)))
        count = lambda query: session.scalar(query) or 0  # noqa: E731
        held = count(select(func.count()).select_from(Meeting).where(
            Meeting.cohort_id == cohort_id, Meeting.kind == "buddy", Meeting.status == "held"))
        shadowing = dict(session.execute(select(Meeting.direction, func.count()).where(
            Meeting.cohort_id == cohort_id, Meeting.kind == "shadowing", Meeting.status == "held")
            .group_by(Meeting.direction)).all())
        reflections = count(select(func.count()).select_from(Reflection).where(
            Reflection.participant_id.in_(participants)))
        surveys = {}
        for survey_id in ("pre_survey", "fit_check", "pulse", "post_survey", "follow_up"):
            needed = sum(1 for item in get_survey(survey_id).items if not item.optional)
            per_person = session.execute(select(SurveyResponse.participant_id, func.count()).where(
                SurveyResponse.survey == survey_id, SurveyResponse.participant_id.in_(participants))
                .group_by(SurveyResponse.participant_id)).all()
            surveys[survey_id] = (sum(1 for _, n in per_person if n >= needed), len(participants))
        intents = dict(session.execute(select(Delivery.intent, func.count()).where(Delivery.cohort_id == cohort_id)
                                       .group_by(Delivery.intent)).all())
        steps_run = count(select(func.count()).select_from(StepRun).where(StepRun.cohort_id == cohort_id))
        pairs = count(select(func.count()).select_from(Pair).where(Pair.cohort_id == cohort_id))
        sent = count(select(func.count()).select_from(Delivery).where(Delivery.cohort_id == cohort_id,
                                                                       Delivery.status == "sent"))
    return DemoSummary(
        pairs=pairs, meetings_held=held, meetings_target=programme.meetings_target * pairs,
        shadowing=shadowing, reflections=reflections, surveys=surveys,
        nudges=intents.get("quiet_pair_nudge", 0), escalations=intents.get("quiet_pair_escalation", 0),
        coordinator_alerts=intents.get("coordinator_alert", 0), steps_run=steps_run,
        steps_total=len(programme.steps), deliveries_sent=sent, wall_seconds=wall, integrity=integrity,
        transcript_lines=transcript_lines,
    )


def main(out: Callable[[str], None] = print, seconds: float = 25.0, everyone: bool = False) -> DemoSummary:
    database = Path(os.getcwd()) / DEMO_DATABASE
    transcript = Path(os.getcwd()) / "pairbot-demo-transcript.txt"
    summary = asyncio.run(run_demo(out, database, seconds=seconds, transcript_path=transcript,
                                   show_everyone=everyone))
    out(summary.render())
    out(f"The whole conversation is in {transcript.name}. The demo's database is {database.name}; look at it with:")
    out(f"  pairbot status --database sqlite:///{database.name}")
    out(summary.integrity.render())
    return summary
