"""A whole cohort run through the default programme by simulated people, on programme time.

`run_cohort` (and `simulate`, its synchronous form) enrols the people given, pairs them as told and
drives the real Timeline on a VirtualClock: programme time stands still while due jobs run, due
messages are delivered and the people who answer at once have answered, then it jumps to the next
due thing (a job's run time, a delivery's available_at, or the moment someone will reply). People
answer through the same inbound events a real adapter produces, after a seeded, realistic delay.
The same seed gives the same transcript, and the run ends with integrity counts from the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import random
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from adapters.console.render import render_text
from adapters.console.sender import PLATFORM, ConsoleSender
from bot import enrolment, integrity, migrate, rota
from bot.rota import RotaPlan
from bot.rota_text import applied, parse_rota
from bot.capabilities import FORMS, Capabilities
from bot.clock import VirtualClock
from bot.context import CoreOptions
from bot.core import Pairbot
from bot.db import Database
from bot.events import Address, Clicked, InboundEvent, Said, Submitted
from bot.flows.contract import QUESTIONS as CONTRACT_QUESTIONS
from bot.integrity import Integrity, TypedAnswer
from bot.messages import Choice, Form, Message, Recipient
from bot.models import Delivery
from bot.programme import Programme, default_programme
from bot.surveys import default_surveys
from scheduler.delivery import DeliveryWorker
from scheduler.timeline import Timeline
from scheduler.virtual import VirtualScheduler


DEFAULT_START = date(2025, 3, 3)  # a Monday; fixed so a seed gives the same transcript on any day
WORKSPACE = "sim"
ORGANISATION = "Demo NHS Foundation Trust"
STAFF = (("coordinator", "Rita Coordinator", "Rita (coordinator)"), ("facilitator", "Sam Facilitator",
                                                                       "Sam (facilitator)"))
NIGHT = (time(22, 30), time(7, 0))  # nobody answers between these

REFLECTIONS = [
    "Seeing the bed meeting made the 8am pressure on the wards make sense.",
    "I hadn't realised how much of the rota gap work lands on the service manager.",
    "We agreed I'll bring the discharge delays data to the next meeting.",
    "Shadowing the night shift showed me why escalation calls get missed.",
    "Good chat about how a business case actually gets approved.",
]
SETTLES = {"contract_done": "contract", "project_done": "project", "buddy_booked": "meeting",
           "shadowing_booked": "meeting"}
# How a "which question?" button names each kind of question (the flows' `about`), so a simulated
# person picks one of the kind they meant.
WHICH_MARKERS = {
    "survey": re.compile(r"\bsurvey\b"),
    "meeting": re.compile(r"^(whether|a time for) your"),
    "reflection": re.compile(r"\breflection\b"),
    "contract": re.compile(r"\bcontract\b"),
    "profile": re.compile(r"\bfree times\b"),
    "group": re.compile(r"\byour reply about\b|\binvitation\b"),
    "project": re.compile(r"\bimprovement project\b"),
}
GROUP_CHAT = [
    "Thanks both, looking forward to it!",
    "Sorry, running late from clinic, five minutes.",
    "Great to meet you, see you soon.",
    "Shall we grab a coffee beforehand?",
]


@dataclass(frozen=True)
class Habits:
    """How a simulated person behaves; every chance is per message they get."""

    late: bool = False  # answers a day or more later, not within hours
    types: float = 0.0  # types the label or number instead of clicking a button
    double_taps: float = 0.0  # clicks the same button twice
    # answers on one device, then a while later on another whose copy of the message has not been
    # redrawn yet: another button of the same message, or the same form filled in again
    two_devices: float = 0.0
    stale_buttons: float = 0.0  # later clicks a button on an older message
    ignores: float = 0.0  # leaves a question unanswered
    chats_in_group: float = 0.0  # says something in the pair's conversation
    quiet_until_nudged: bool = False  # answers only surveys and workshops until the pair is nudged
    nonsense_first: bool = False  # answers their first survey question with nonsense


@dataclass(frozen=True)
class SimulatedPerson:
    name: str
    role: str  # clinician | manager | other
    availability: str  # as they would type it, e.g. "Mon 12:00-14:00, Thu 17:00-18:00"
    profession: str = ""
    department: str = ""
    habits: Habits = Habits()
    quiet_hours: str = ""  # their own, e.g. "08:00-16:00" for someone on nights; "" for the default
    rota: str = ""  # as they would type it after 'rota', e.g. "nights 1 in 4 from 3 Mar, rotate 6 May"


@dataclass(frozen=True)
class Line:
    """One transcript line: its text, the people it concerns (None for a day heading) and whether
    it is routine (a survey's later questions), which a screen may leave out."""

    text: str
    users: frozenset[str] | None
    routine: bool = False


@dataclass
class SimulationResult:
    integrity: Integrity
    transcript: list[str]
    cohort_id: int
    typed: list[TypedAnswer]
    job_errors: list[str]
    ended_at: datetime


@dataclass(frozen=True)
class Action:
    """What a person will do, and for typed text the question they mean it for."""

    event: InboundEvent
    meant: tuple[str | None, int | None, str | None] | None = None  # (flow, ref_id, subject)
    label: str = ""
    right_after: bool = False  # a second or two after the action before it (a double tap)
    after_previous: timedelta | None = None  # this long after the action before it (another device)
    answering: str = ""  # for typed text: the text of the message it answers
    seen_at: datetime | None = None  # when the message it answers arrived


@dataclass
class Persona:
    user: str
    address: Address
    name: str
    habits: Habits
    rng: random.Random
    tz: ZoneInfo
    quiet: bool = False
    said_nonsense: bool = False
    seen: list[Message] = field(default_factory=list)  # earlier messages with buttons
    latest: dict[str, datetime] = field(default_factory=dict)  # flow -> when its newest message came
    done: set[tuple[str, int]] = field(default_factory=set)  # (flow, reference) they answered by a click
    # The buttons of each question they have answered: a second copy of a question (after their own
    # double tap) is one they have answered already, so they leave it.
    answered: set[tuple[str, ...]] = field(default_factory=set)

    def saw(self, message: Message, at: datetime) -> None:
        # A buddy's "recorded your pair contract" or "booked your buddy meeting" settles that
        # question too: someone who has read it does not answer it any more.
        flow = SETTLES.get(message.intent) or meant_for(message, None)[0]
        if flow:
            self.latest[flow] = at

    def superseded(self, action: "Action") -> bool:
        """Typed words for a question of which a newer copy has come since: in a chat one types
        an answer to what one sees last, so this one is left (the newer message gets its own)."""
        if not isinstance(action.event, Said) or not action.meant or not action.meant[0] or action.seen_at is None:
            return False
        if (action.meant[0], action.meant[1]) in self.done:
            return True  # they have since answered it with a button (perhaps an old one: "Skip this one")
        return self.latest.get(action.meant[0], action.seen_at) > action.seen_at

    def clicked(self, event: Clicked) -> None:
        flow, ref_id, _subject = meant_for(Message("", choices=(Choice("", event.action, event.value),)), None)
        if flow and ref_id:
            self.done.add((flow, ref_id))

    # --- what they answer ----------------------------------------------------------------------
    def react(self, message: Message, follow_up: bool, in_group: bool) -> list[Action]:
        habits = self.habits
        actions: list[Action] = []
        if in_group and habits.chats_in_group and self.rng.random() < habits.chats_in_group:
            actions.append(Action(Said(self.address, self.rng.choice(GROUP_CHAT), in_group=True), meant=(None, None, None),
                                  label="says in the group"))
        if habits.stale_buttons and self.seen and self.rng.random() < habits.stale_buttons:
            old = self.rng.choice(self.seen)
            pick = self.rng.choice(old.choices)
            actions.append(Action(Clicked(self.address, pick.action, pick.value),
                                  label=f"clicks an old “{pick.label}”"))
        if message.choices:
            self.seen = (self.seen + [message])[-6:]
            if message.intent in ("survey_question", "reask") and \
                    tuple(c.value for c in message.choices) in self.answered:
                return actions
        answer = self._decide(message)
        if answer is None or (not follow_up and habits.ignores and self.rng.random() < habits.ignores):
            return actions
        if isinstance(answer, Choice):
            actions += self._press(message, answer)
        elif isinstance(answer, dict):
            actions += self._submit(message.form, answer)
        else:
            actions.append(Action(Said(self.address, answer), meant=meant_for(message, None), label=f"“{answer}”",
                                  answering=message.text))
        return actions

    def which(self, reply: Message, answering: str, meant: str | None = None) -> list[Action]:
        """Asked which question their words were for: one of the kind they meant (`meant`, a flow),
        the most like the message they were answering; "Neither" when none is what they meant."""
        words = set(re.findall(r"\w+", answering.lower()))
        options = [c for c in reply.choices if c.label != "Neither"]
        marker = WHICH_MARKERS.get(meant or "")
        if marker is not None:
            options = [c for c in options if marker.search(c.label.lower())]
        if meant == "meeting":  # which meeting: the one the message they answered names
            options = [c for c in options if _named_meeting(c.label) in answering.lower()]
        if not options:
            neither = next((c for c in reply.choices if c.label == "Neither"), None)
            return [Action(Clicked(self.address, neither.action, neither.value), label="clicks “Neither”")] \
                if neither else []
        # Judged on the words that tell the options apart ("Group meeting 2" from "Celebration").
        labels = {c.value: set(re.findall(r"\w+", c.label.lower())) for c in options}
        shared = set.intersection(*labels.values())
        best = max(options, key=lambda c: len(words & (labels[c.value] - shared)))
        return [Action(Clicked(self.address, best.action, best.value), label=f"clicks “{best.label}”")]

    def _press(self, message: Message, option: Choice) -> list[Action]:
        habits = self.habits
        if message.intent in ("survey_question", "reask"):
            self.answered.add(tuple(c.value for c in message.choices))
        if habits.types and self.rng.random() < habits.types:
            number = str(message.choices.index(option) + 1)
            typed = option.label if self.rng.random() < 0.5 else number
            return [Action(Said(self.address, typed), meant=meant_for(message, option), label=f"types “{typed}”",
                           answering=message.text)]
        click = Action(Clicked(self.address, option.action, option.value), label=f"clicks “{option.label}”")
        if habits.double_taps and self.rng.random() < habits.double_taps:
            return [click, Action(click.event, label=f"clicks “{option.label}” again", right_after=True)]
        if habits.two_devices and self.rng.random() < habits.two_devices:
            other = self.rng.choice(message.choices)
            return [click, Action(Clicked(self.address, other.action, other.value),
                                  label=f"on another device, clicks “{other.label}”", after_previous=self._a_while())]
        return [click]

    def _a_while(self) -> timedelta:
        return timedelta(minutes=self.rng.randint(5, 90))

    def _submit(self, form: Form, answers: dict[str, str]) -> list[Action]:
        submit = Action(Submitted(self.address, form.id, answers), label=f"fills in “{form.title}”")
        if self.habits.double_taps and self.rng.random() < self.habits.double_taps:
            return [submit, Action(submit.event, label=f"sends “{form.title}” again", right_after=True)]
        if self.habits.two_devices and self.rng.random() < self.habits.two_devices:
            again = Submitted(self.address, form.id, self._fill(form))
            return [submit, Action(again, label=f"on another device, fills in “{form.title}” again",
                                   after_previous=self._a_while())]
        return [submit]

    def _fill(self, form: Form) -> dict[str, str]:
        """A form's answers, as the same person would give them one question at a time."""
        answers: dict[str, str] = {}
        for number, item in enumerate(form.fields):
            if item.kind == "scale":
                options = [Choice(str(n), "survey:answer", f"{form.id.partition(':')[2]}:{item.id}:{n}")
                           for n in range(1, 6)]
                if self.habits.nonsense_first and not self.said_nonsense and number == 0:
                    self.said_nonsense = True
                    answers[item.id] = "banana"
                else:
                    answers[item.id] = self._survey_answer(options).label
            elif item.kind == "choice":
                pick = item.options[-1] if item.id == "share_free_text" else item.options[0]
                answers[item.id] = pick
            elif item.id == "goals":
                answers[item.id] = "Understand each other's pressures and fix one discharge delay."
            elif item.id == "shadowing_plan":
                answers[item.id] = "Ward round in month 2, a capacity meeting in month 3."
            elif item.id == "reflection":
                answers[item.id] = self.rng.choice(REFLECTIONS)
            elif not item.optional or self.rng.random() < 0.5:
                answers[item.id] = "Protected time for the meetings would help."
        return answers

    def _decide(self, message: Message) -> Choice | str | dict[str, str] | None:
        """A button to press, words to type, a form's answers, or None to leave it."""
        intent = message.intent
        if intent == "quiet_pair_nudge":
            if not self.quiet:
                return None  # a busy pair between meetings: the next proposal will come anyway
            self.quiet = False
            return _find(message, "meeting:propose")
        if self.quiet and intent not in ("survey_question", "survey_reminder", "reask", "enrol", "group_meeting"):
            return None
        if intent == "enrol":
            return None  # the availability is typed by the simulation, which knows it
        slots = [c for c in message.choices if c.action == "meeting:slot"]
        if slots:
            return self.rng.choice(slots)
        if intent == "did_you_meet":
            return _find(message, "meeting:outcome", "yes" if self.rng.random() < 0.93 else "rescheduled")
        if message.form is not None and intent not in ("enrol",):
            return self._fill(message.form)
        if intent == "reflect":
            return self.rng.choice(REFLECTIONS)
        answers = [c for c in message.choices if c.action == "survey:answer"]
        if intent in ("survey_question", "survey_reminder", "reask") and answers:
            if self.habits.nonsense_first and not self.said_nonsense:
                self.said_nonsense = True
                return "banana"
            return self._survey_answer(answers)
        if intent == "survey_question":  # a free-text item
            return "Protected time for the meetings would help."
        if intent in ("contract", "contract_question") or any(c.action == "contract:answer" for c in message.choices):
            if message.choices:
                return message.choices[0]
            if "goals" in message.text.lower() or "get out of" in message.text.lower():
                return "Understand each other's pressures and fix one discharge delay."
            return "Ward round in month 2, a capacity meeting in month 3."
        if intent == "group_meeting" and message.choices:
            return message.choices[0 if self.rng.random() < 0.8 else min(2, len(message.choices) - 1)]
        if intent == "project":
            stages = [c for c in message.choices if c.action == "project:stage"]
            return stages[min(len(stages) - 1, 1 + self.rng.randint(0, 2))] if stages else None
        return None

    def _survey_answer(self, options: list[Choice]) -> Choice:
        labels = [c.label for c in options]
        if labels == ["1", "2", "3", "4", "5"]:
            # Scores drift upwards over the programme, as the published evaluations found.
            post = "post_survey" in options[0].value or "pulse" in options[0].value
            pick = self.rng.choice([3, 4, 4, 5] if post else [2, 2, 3, 3, 4])
            if ":pair_fit:" in options[0].value:
                pick = 2 if self.quiet else self.rng.choice([4, 5])
            return options[pick - 1]
        chosen = options[0] if "share_free_text" not in options[0].value else options[-1]
        return options[0] if "wants_repairing" in options[0].value else chosen

    # --- when they answer ----------------------------------------------------------------------
    def reply_at(self, now: datetime, follow_up: bool) -> datetime:
        """In a conversation, within a minute or so; a new message, minutes to hours later (some in
        the evening, a late person a day or more), never at night."""
        rng = self.rng
        if follow_up:
            return _off_the_minute(now + timedelta(seconds=rng.randint(8, 75)))
        if self.habits.late:
            at = now + timedelta(hours=rng.uniform(20, 80))
        else:
            roll = rng.random()
            if roll < 0.45:
                at = now + timedelta(minutes=rng.uniform(3, 60))
            elif roll < 0.75:
                at = now + timedelta(hours=rng.uniform(1, 6))
            else:
                local = now.astimezone(self.tz)
                evening = datetime.combine(local.date(), time(19, 0), self.tz) + timedelta(minutes=rng.uniform(0, 180))
                at = evening if evening > now + timedelta(minutes=15) else evening + timedelta(days=1)
        local = at.astimezone(self.tz)
        if local.time() >= NIGHT[0] or local.time() < NIGHT[1]:
            morning = local.date() + timedelta(days=1) if local.time() >= NIGHT[0] else local.date()
            at = datetime.combine(morning, NIGHT[1], self.tz) + timedelta(minutes=rng.uniform(0, 100))
        return _off_the_minute(at)


def _off_the_minute(at: datetime) -> datetime:
    # Jobs run on whole minutes; people never act on the same second, so the prompts a typed
    # answer closed are told apart from a job's by their instant.
    at = at.astimezone(timezone.utc).replace(microsecond=0)
    return at + timedelta(seconds=1) if at.second == 0 else at


def _find(message: Message, action: str, suffix: str | None = None) -> Choice | None:
    for option in message.choices:
        if option.action == action and (suffix is None or option.value.endswith(":" + suffix)):
            return option
    return None


# --- which question a message asks -------------------------------------------------------------------
SURVEY_HEADING = re.compile(r"^(?P<title>.+) \(question (?P<number>\d+) of \d+\)$", re.MULTILINE)


def _named_meeting(label: str) -> str:
    """The meeting a "which question?" option names: "whether your shadowing visit (the manager
    shadowing the clinician) happened" -> "shadowing visit (the manager shadowing the clinician)"."""
    named = re.sub(r"^(whether (to find new times for )?your|a time for your) ", "", label.lower().rstrip("…"))
    return re.sub(r" happened$", "", named)


def meant_for(message: Message, option: Choice | None) -> tuple[str | None, int | None, str | None]:
    """The question a typed reply to `message` answers, as integrity.TypedAnswer names it: read from
    the buttons' values where it has them, else from what the message asks."""
    for candidate in ([option] if option else []) + list(message.choices):
        flow, _, verb = candidate.action.partition(":")
        parts = candidate.value.split(":")
        if flow == "survey":
            return "survey", None, f"{parts[0]}:{parts[1]}"
        if flow == "meeting" and verb in ("slot", "others", "outcome"):
            return "meeting", int(parts[0]), "outcome" if verb == "outcome" else "slot"
        if flow == "meeting":
            return "meeting", None, None  # a nudge's or "find new times" button
        if flow == "contract":
            return "contract", int(parts[0]), parts[1]
        if flow in ("group", "project", "reflection"):
            return flow, int(parts[0]) or None, None
    if message.intent == "enrol":
        return "profile", None, "availability"
    if message.intent == "contract_question":
        for field_id, label, *_rest in CONTRACT_QUESTIONS:
            if f"Contract: {label}" in message.text:
                return "contract", None, field_id
    heading = SURVEY_HEADING.search(message.text)
    if heading:
        for survey in default_surveys().values():
            if survey.title == heading["title"]:
                return "survey", None, f"{survey.id}:{survey.items[int(heading['number']) - 1].id}"
    return None, None, None


# --- the run ------------------------------------------------------------------------------------------
class Transcript:
    """Lines in programme time (the cohort's zone), a heading for each new day; no wall-clock times."""

    def __init__(self, tz: ZoneInfo, names: dict[str, str], on_line: Callable[[Line], None] | None):
        self.tz = tz
        self.names = names
        self.on_line = on_line
        self.lines: list[str] = []
        self._day: date | None = None

    def _add(self, at: datetime, text: str, users: frozenset[str], routine: bool) -> None:
        local = at.astimezone(self.tz)
        if local.date() != self._day:
            self._day = local.date()
            self._emit(Line(f"\n── {local:%a} {local.day} {local:%b %Y} ──", None))
        self._emit(Line(f"{local:%H:%M} {text}", users, routine))

    def _emit(self, line: Line) -> None:
        self.lines.append(line.text)
        if self.on_line:
            self.on_line(line)

    def bot_says(self, at: datetime, recipient: Recipient, message: Message) -> None:
        who = " & ".join(self.names.get(m.user, m.user) for m in recipient.members)
        text = render_text(message).replace("\n", "\n      ")
        routine = message.intent == "survey_question" and "question 1 of" not in message.text
        self._add(at, f"Pairbot → {who}: {text}", frozenset(m.user for m in recipient.members), routine)

    def person_does(self, at: datetime, user: str, what: str, routine: bool) -> None:
        self._add(at, f"{self.names.get(user, user)}: {what}", frozenset({user}), routine)


@contextmanager
def _database_at(url: str) -> Iterator[str]:
    """The URL itself, or for a throwaway SQLite database ("sqlite://") a file in a temporary
    folder: each connection to ":memory:" is a database of its own, and the worker's threads
    need to see the same one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database not in (None, "", ":memory:"):
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="pairbot-sim-") as folder:
        yield f"sqlite:///{Path(folder) / 'cohort.sqlite'}"


def validate(people: Sequence[SimulatedPerson], groups: Sequence[Sequence[int]]) -> None:
    problems = []
    placed: dict[int, int] = {}
    for number, group in enumerate(groups, 1):
        if not 2 <= len(group) <= 4:
            problems.append(f"group {number} has {len(group)} members; a pair or group has 2 to 4")
        for index in group:
            if not 0 <= index < len(people):
                problems.append(f"group {number} names person {index}, but there are {len(people)} people "
                                f"(0..{len(people) - 1})")
            elif index in placed:
                problems.append(f"person {index} ({people[index].name}) is in groups {placed[index]} and {number}")
            else:
                placed[index] = number
    for index, person in enumerate(people):
        if index not in placed:
            problems.append(f"person {index} ({person.name}) is in no group")
        if person.role not in ("clinician", "manager", "other"):
            problems.append(f"person {index} ({person.name}) has role {person.role!r}; "
                            "expected clinician, manager or other")
    if problems:
        raise ValueError("cannot simulate this cohort: " + "; ".join(problems))


def span(programme: Programme, start: date, zone: str) -> tuple[datetime, datetime]:
    """The programme time a run covers: from a day before the first step to eight days after the last."""
    due = [at for at, _step in programme.timeline(start, ZoneInfo(zone))]
    return (min(due).astimezone(timezone.utc) - timedelta(days=1),
            max(due).astimezone(timezone.utc) + timedelta(days=8))


async def run_cohort(database_url: str, people: Sequence[SimulatedPerson], groups: Sequence[Sequence[int]], *,
                     seed: int = 0, start: date = DEFAULT_START, programme: Programme | None = None,
                     zone: str = "Europe/London", cohort_name: str = "Simulated cohort",
                     options: CoreOptions | None = None, on_line: Callable[[Line], None] | None = None,
                     before_jump: Callable[[datetime, datetime], object] | None = None,
                     coordinator: Sequence[tuple[timedelta, str]] = (), forms: bool = False) -> SimulationResult:
    """Run `people`, paired as `groups` (indexes into `people`), through `programme` (the default)
    on a fresh database at `database_url` ("sqlite://" for a throwaway one), over `span()`.

    `coordinator` holds commands typed at the console at times after the start of the run
    (e.g. `(timedelta(weeks=6), "remove u03@sim.example")`), as a coordinator would mid-programme.

    `forms`: the platform shows forms (as Slack and Teams do), so surveys, contracts and reflections
    come as one form each; without, the console asks one question at a time in chat.

    `before_jump(now, next)` is awaited (if it returns an awaitable) before each jump of programme
    time, so a screen can pace itself."""
    validate(people, groups)
    programme = programme or default_programme()
    tz = ZoneInfo(zone)
    origin, end = span(programme, start, zone)
    with _database_at(database_url) as url:
        db = Database(url)
        try:
            if not migrate.is_up_to_date(db.engine):
                migrate.upgrade(db.engine)
            clock = VirtualClock(origin)
            rng = random.Random(seed)
            names = {user: label for user, _name, label in STAFF}
            personas: dict[str, Persona] = {}
            with db.session() as session:
                now = clock.now()
                org = enrolment.organisation(session, PLATFORM, WORKSPACE, ORGANISATION, now)
                for user, name, _label in STAFF:
                    staff = enrolment.person(session, org, Address(PLATFORM, WORKSPACE, user), name, now)
                    enrolment.grant(session, org, staff, user, now)
                cohort = enrolment.create_cohort(session, org, cohort_name, start, programme, zone, now)
                members = []
                for index, who in enumerate(people):
                    user = f"u{index + 1:02d}"
                    address = Address(PLATFORM, WORKSPACE, user)
                    members.append(enrolment.enrol(session, cohort, org, enrolment.Enrolee(
                        address=address, name=who.name, role=who.role, profession=who.profession,
                        department=who.department, site="City Hospital", email=f"{user}@sim.example"), now))
                    members[-1].person.quiet_hours = who.quiet_hours
                    if who.rota:
                        rota.store(members[-1], applied(RotaPlan(), parse_rota(who.rota, start)))
                    names[user] = who.name
                    personas[user] = Persona(user, address, who.name, who.habits, random.Random(rng.random()), tz,
                                             quiet=who.habits.quiet_until_nudged)
                for group in groups:
                    enrolment.make_pair(session, cohort, [members[i] for i in group], now)
                cohort.status = "running"
                cohort_id = cohort.id
            availability = {f"u{i + 1:02d}": p.availability for i, p in enumerate(people)}

            transcript = Transcript(tz, names, on_line)
            arrived: list[tuple[Recipient, Message]] = []

            async def deliver(recipient: Recipient, message: Message) -> None:
                arrived.append((recipient, message))

            core = Pairbot(db, clock, Capabilities({PLATFORM: ConsoleSender.capabilities | ({FORMS} if forms else set())}), options or CoreOptions())
            scheduler = VirtualScheduler(clock)
            timeline = Timeline(core, scheduler)
            worker = DeliveryWorker(core, ConsoleSender(deliver), batch_size=200)
            planned: list[tuple[datetime, int, str, Action, bool]] = []
            taken: set[tuple[str, datetime]] = set()
            typed: list[TypedAnswer] = []
            sequence = 0

            def plan(user: str, actions: list[Action], follow_up: bool, routine: bool) -> None:
                nonlocal sequence
                persona = personas[user]
                at = clock.now()
                for action in actions:
                    action = dataclasses.replace(action, seen_at=clock.now())
                    if action.right_after:
                        at = at + timedelta(seconds=2)
                    elif action.after_previous is not None:
                        at = at + action.after_previous
                    else:
                        at = persona.reply_at(clock.now(), follow_up)
                    while (user, at) in taken:
                        at += timedelta(seconds=2)
                    taken.add((user, at))
                    sequence += 1
                    heapq.heappush(planned, (at, sequence, user, action, routine))

            def received(recipient: Recipient, message: Message) -> None:
                transcript.bot_says(clock.now(), recipient, message)
                users = [m.user for m in recipient.members if m.user in personas]
                for user in users:
                    personas[user].saw(message, clock.now())
                if message.intent == "enrol" and users:
                    user = users[0]
                    words = availability[user]
                    plan(user, [Action(Said(personas[user].address, words), meant=meant_for(message, None),
                                       label=f"“{words}”")], follow_up=False, routine=False)
                    return
                answering = personas[rng.choice(users)].user if len(users) > 1 else (users[0] if users else None)
                for user in users:
                    actions = personas[user].react(message, follow_up=False, in_group=len(users) > 1)
                    if user != answering:
                        actions = [a for a in actions if a.meant == (None, None, None)]  # one answers for the pair
                    plan(user, actions, follow_up=False, routine=False)

            def act(user: str, action: Action, routine: bool) -> None:
                now = clock.now()
                if personas[user].superseded(action):
                    return
                if isinstance(action.event, Clicked):
                    personas[user].clicked(action.event)
                transcript.person_does(now, user, action.label, routine)
                if isinstance(action.event, Said) and action.meant is not None:
                    flow, ref_id, subject = action.meant
                    typed.append(TypedAnswer(personas[user].address, now, flow, ref_id, subject))
                for reply in core.handle(action.event):
                    transcript.bot_says(now, Recipient.person(personas[user].address), reply)
                    personas[user].saw(reply, now)
                    if reply.intent == "which_question":
                        plan(user, personas[user].which(reply, action.answering, (action.meant or (None,))[0]),
                             follow_up=True, routine=False)
                        continue
                    follow = personas[user].react(reply, follow_up=True, in_group=False)
                    plan(user, follow, follow_up=True, routine=reply.intent == "survey_question")

            due = select(func.min(Delivery.available_at)).where(
                Delivery.platform == PLATFORM, Delivery.status.in_(("pending", "sending")))

            def next_delivery() -> datetime | None:
                return db.read_value(due)  # asked after every step of the run: take no write lock

            commands = sorted((origin + offset, words) for offset, words in coordinator)
            timeline.start()
            try:
                changed = True  # whether jobs or deliveries may have changed since they were last read
                jobs_at = deliveries_at = None
                while True:
                    # Settle: everything due now runs, is delivered and answered before time moves on.
                    while True:
                        progressed = 0
                        if changed:
                            jobs_at, deliveries_at = scheduler.next_run_time(), next_delivery()
                        if jobs_at is not None and jobs_at <= clock.now():
                            progressed += scheduler.run_due()
                        if deliveries_at is not None and deliveries_at <= clock.now():
                            progressed += await worker.run_once()
                            batch, arrived[:] = list(arrived), []
                            for recipient, message in batch:
                                received(recipient, message)
                        while planned and planned[0][0] <= clock.now():
                            _at, _n, user, action, routine = heapq.heappop(planned)
                            act(user, action, routine)
                            progressed += 1
                        while commands and commands[0][0] <= clock.now():
                            _at, words = commands.pop(0)
                            reply = core.operate(words)
                            transcript.person_does(clock.now(), "coordinator", f"types “{words}”", False)
                            transcript.bot_says(clock.now(), Recipient.person(Address(PLATFORM, WORKSPACE,
                                                                                      "coordinator")), reply)
                            progressed += 1
                        changed = bool(progressed)
                        if not progressed:
                            break  # and jobs_at, deliveries_at are the next ones due
                    upcoming = [t for t in (jobs_at, deliveries_at, planned[0][0] if planned else None,
                                            commands[0][0] if commands else None) if t is not None]
                    following = min(upcoming, default=None)
                    if following is None or following > end:
                        break
                    if before_jump is not None:
                        waiting = before_jump(clock.now(), following)
                        if asyncio.iscoroutine(waiting):
                            await waiting
                    clock.advance_to(following)
            finally:
                await timeline.stop()
            with db.session() as session:
                counts = integrity.check(session, cohort_id, typed, meeting_minutes=core.options.meeting_minutes)
            return SimulationResult(counts, transcript.lines, cohort_id, typed, list(scheduler.errors), end)
        finally:
            db.dispose()


def simulate(database_url: str, people: Sequence[SimulatedPerson], groups: Sequence[Sequence[int]],
             **options) -> SimulationResult:
    """`run_cohort` for code that is not async (property tests)."""
    return asyncio.run(run_cohort(database_url, people, groups, **options))
