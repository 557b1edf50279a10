"""`pairbot demo`: a whole four-month programme for 12 made-up people, through APScheduler, in
seconds, with simulated participants and a readable transcript."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from adapters.console.render import render_text
from adapters.console.sender import PLATFORM, ConsoleSender
from adapters.console.simulation import Persona
from bot import enrolment, migrate
from bot.capabilities import Capabilities
from bot.clock import ScaledClock
from bot.context import CoreOptions
from bot.core import Pairbot
from bot.db import Database
from bot.events import Address
from bot.messages import Message, Recipient
from bot.models import Delivery, Meeting, Pair, Participant, Reflection, StepRun, SurveyResponse
from bot.programme import default_programme
from bot.surveys import get_survey
from scheduler.delivery import DeliveryWorker
from scheduler.timeline import Timeline

DEMO_DATABASE = "pairbot-demo.sqlite"
TIMEZONE = "Europe/London"
WORKSPACE = "demo"

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


class Transcript:
    """Readable lines with the programme date; featured people are shown on screen, all go to a file."""

    def __init__(self, out: Callable[[str], None], clock, names: dict[str, str], featured: set[str], path: Path | None):
        self.out = out
        self.clock = clock
        self.names = names
        self.featured = featured
        self.file = path.open("w", encoding="utf-8") if path else None
        self._day_shown: date | None = None
        self.tz = ZoneInfo(TIMEZONE)

    def _heading(self, now: datetime, show: bool) -> None:
        day = now.astimezone(self.tz).date()
        if day != self._day_shown:
            self._day_shown = day
            line = f"\n── {day:%a %d %b %Y} ──"
            self._write(line, show)

    def _write(self, line: str, show: bool) -> None:
        if self.file:
            self.file.write(line + "\n")
        if show:
            self.out(line)

    def bot_says(self, recipient: Recipient, message: Message) -> None:
        show = any(m.user in self.featured for m in recipient.members) and not _routine(message)
        now = self.clock.now()
        self._heading(now, show)
        who = " & ".join(self.names.get(m.user, m.user) for m in recipient.members)
        text = render_text(message).replace("\n", "\n      ")
        self._write(f"{now.astimezone(self.tz):%H:%M} Pairbot → {who}: {text}", show)

    def person_does(self, address: Address, what: str, routine: bool = False) -> None:
        self._write(f"      {self.names.get(address.user, address.user)}: {what}",
                    address.user in self.featured and not routine)

    def close(self) -> None:
        if self.file:
            self.file.close()


def _routine(message: Message) -> bool:
    """Survey questions after the first are in the file, not on screen: the screen shows the story."""
    return message.intent == "survey_question" and "question 1 of" not in message.text


def _describe(event) -> str:
    if hasattr(event, "text"):
        return f"“{event.text}”"
    return f"clicks {event.action.split(':')[1]} {event.value.split(':')[-1]}"


def _reset_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            candidate.unlink()


def _next_monday(today: date) -> date:
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7)


async def run_demo(out: Callable[[str], None] = print, database: Path = Path(DEMO_DATABASE),
                   seconds: float = 25.0, seed: int = 7, transcript_path: Path | None = None,
                   show_everyone: bool = False) -> DemoSummary:
    started = time.monotonic()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    _reset_database(database)
    db = Database(f"sqlite:///{database}")
    migrate.upgrade(db.engine)

    programme = default_programme()
    start = _next_monday(date.today()) + timedelta(weeks=2)
    tz = ZoneInfo(TIMEZONE)
    first_due = min(due for due, _ in programme.timeline(start, tz))
    last_due = max(due for due, _ in programme.timeline(start, tz))
    origin = first_due.astimezone(timezone.utc) - timedelta(days=1)
    end = last_due.astimezone(timezone.utc) + timedelta(days=8)
    clock = ScaledClock(origin, speed=(end - origin).total_seconds() / seconds)

    rng = random.Random(seed)
    personas: dict[str, Persona] = {}
    names: dict[str, str] = {}
    now = clock.now()
    with db.session() as session:
        org = enrolment.organisation(session, PLATFORM, WORKSPACE, "Demo NHS Foundation Trust", now)
        coordinator = enrolment.person(session, org, Address(PLATFORM, WORKSPACE, "coordinator"),
                                       "Rita Coordinator", now)
        enrolment.grant(session, org, coordinator, "coordinator", now)
        facilitator = enrolment.person(session, org, Address(PLATFORM, WORKSPACE, "facilitator"),
                                       "Sam Facilitator", now)
        enrolment.grant(session, org, facilitator, "facilitator", now)
        names.update({"coordinator": "Rita (coordinator)", "facilitator": "Sam (facilitator)"})
        cohort = enrolment.create_cohort(session, org, "Demo cohort", start, programme, TIMEZONE, now)
        members = []
        for index, (name, role, profession, department, availability) in enumerate(PEOPLE):
            user = f"u{index + 1:02d}"
            address = Address(PLATFORM, WORKSPACE, user)
            members.append(enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                address=address, name=name, role=role, profession=profession, department=department,
                site="City Hospital"), now))
            names[user] = name
            personas[user] = Persona(address, name, role, availability,
                                     quiet_until_nudged=index // 2 == QUIET_PAIR,
                                     answers_nonsense_first=index == NONSENSE_PERSON,
                                     rng=random.Random(rng.random()))
        for pair_index in range(len(members) // 2):
            enrolment.make_pair(session, cohort, members[2 * pair_index: 2 * pair_index + 2], now)
        cohort.status = "running"
        cohort_id = cohort.id

    featured = set(names) if show_everyone else {"u01", "u02", "u05", "u06", "u07", "coordinator"}
    transcript = Transcript(out, clock, names, featured, transcript_path)
    capabilities = Capabilities({PLATFORM: ConsoleSender.capabilities})
    # Weeks pass in seconds here, so surveys stay open for the whole run.
    core = Pairbot(db, clock, capabilities, CoreOptions(survey_open_days=365))

    async def deliver(recipient: Recipient, message: Message) -> None:
        transcript.bot_says(recipient, message)
        await _respond(recipient, message, depth=0)

    async def _respond(recipient: Recipient, message: Message, depth: int) -> None:
        if depth > 40:
            return
        for member in recipient.members:
            persona = personas.get(member.user)
            event = persona.decide(message) if persona else None
            if event is None:
                continue
            transcript.person_does(member, _describe(event),
                                   routine=message.intent == "survey_question" and depth > 0)
            for reply in await asyncio.to_thread(core.handle, event):
                transcript.bot_says(Recipient.person(member), reply)
                await _respond(Recipient.person(member), reply, depth + 1)
            break  # in a group conversation one member answers for the pair

    out(f"Pairbot demo: a {programme.name.lower()} for 6 pairs, starting {start:%a %d %b %Y}, "
        f"run at {clock.speed:,.0f}x speed.")
    out("Showing two pairs, the quiet pair and the coordinator; everyone else is in the transcript file.")
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    timeline = Timeline(core, scheduler)
    worker = DeliveryWorker(core, ConsoleSender(deliver), batch_size=100)
    timeline.start()
    deadline = time.monotonic() + seconds * 2.5
    try:
        while time.monotonic() < deadline:
            handled = await worker.run_once()
            if not handled:
                if clock.now() >= end:
                    break
                await asyncio.sleep(0.01)
    finally:
        await timeline.stop()
        transcript.close()

    summary = _summarise(db, cohort_id, programme, worker.sent, time.monotonic() - started)
    db.dispose()
    return summary


def _summarise(db: Database, cohort_id: int, programme, sent: int, wall: float) -> DemoSummary:
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
    return DemoSummary(
        pairs=pairs, meetings_held=held, meetings_target=programme.meetings_target * pairs,
        shadowing=shadowing, reflections=reflections, surveys=surveys,
        nudges=intents.get("quiet_pair_nudge", 0), escalations=intents.get("quiet_pair_escalation", 0),
        coordinator_alerts=intents.get("coordinator_alert", 0), steps_run=steps_run,
        steps_total=len(programme.steps), deliveries_sent=sent, wall_seconds=wall,
    )


def main(out: Callable[[str], None] = print, seconds: float = 25.0, everyone: bool = False) -> DemoSummary:
    database = Path(os.getcwd()) / DEMO_DATABASE
    transcript = Path(os.getcwd()) / "pairbot-demo-transcript.txt"
    summary = asyncio.run(run_demo(out, database, seconds=seconds, transcript_path=transcript,
                                   show_everyone=everyone))
    out(summary.render())
    out(f"The whole conversation is in {transcript.name}. The demo's database is {database.name}; look at it with:")
    out(f"  pairbot status --database sqlite:///{database.name}")
    return summary
