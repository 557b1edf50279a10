"""Every message of the default programme and of every survey, for a pair, a trio and a group of
four, with and without group conversations and forms, and the staff steps and digests: none has a
blank placeholder, a leftover brace, a double space, "?," or "..".

Driven through the core with a frozen clock and a recording platform (tests/harness.py): each
step runs when due, and everyone answers what they receive (a different choice each, so the
replies cover booking, "none of these", "no", skipping and so on)."""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from bot import enrolment, migrate
from bot.capabilities import FORMS, GROUP_CONVERSATION, Capabilities
from bot.clock import ManualClock
from bot.core import Pairbot
from bot.db import Database
from bot.events import Address, Clicked, Command, Said, Submitted
from bot.flows.survey import survey_form
from bot.messages import Message
from bot.programme import parse_programme
from bot.rota import Leave, RotaPlan
from bot.surveys import default_surveys
from harness import PLATFORM, START, TZ, RecordingSender
from scheduler.delivery import DeliveryWorker

BAD = {
    "a blank placeholder": re.compile(r"(?m), ,|with ,| ,|and  | \.|, \?|: $"),
    "a leftover brace": re.compile(r"[{}]"),
    "a double space": re.compile(r"(?<=\S)  "),
    "'?,'": re.compile(r"\?,"),
    "'..'": re.compile(r"(?<!\.)\.\.(?!\.)"),
    "a day with a leading zero": re.compile(r"\b0\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"),
}

WEEK = [{"day": d, "start": "08:00", "end": "18:00"} for d in range(5)]
MEMBERS = {
    # user: (name, role)
    "ben": ("Ben Okafor", "manager"),
    "asha": ("Dr Asha Patel", "clinician"),
    "carl": ("Dr Carl Jones", "clinician"),
    "dana": ("Dana Smith", "manager"),
}
AUDIENCES = {"pair": 2, "trio": 3, "four": 4}
CAPABILITIES = {
    "chat only": frozenset(),
    "group conversations": frozenset({GROUP_CONVERSATION}),
    "forms": frozenset({FORMS}),
    "group conversations and forms": frozenset({GROUP_CONVERSATION, FORMS}),
}
# Steps for the staff, beside the default programme's (which has none).
STAFF_STEPS = """
[[steps]]
id = "staff-launch"
week = 0
day = 1
intent = "group_meeting"
audience = "coordinators"
text = "Hi {first_name}, {title} for {cohort} is in week {week}."
[steps.params]
title = "Launch workshop"

[[steps]]
id = "facilitators-celebration"
week = 16
day = 1
intent = "group_meeting"
audience = "facilitators"
text = "Hello {first_name}: {title} ({cohort}) is on {held_at}."
[steps.params]
title = "Celebration"
"""


@dataclass
class Seen:
    """Every text the bot produced, with where it came from."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (where, text)

    def add(self, where: str, message: Message) -> None:
        self.items.append((where, message.text))
        for c in message.choices:
            self.items.append((f"{where}, button", c.label))
        for link in message.links:
            self.items.append((f"{where}, link", link.label))
        if message.form is not None:
            self.items.append((f"{where}, form title", message.form.title))
            for f in message.form.fields:
                self.items.append((f"{where}, form field {f.id}", f.label))

    def problems(self) -> list[str]:
        found = []
        for where, text in self.items:
            for what, pattern in BAD.items():
                if not text.strip() or pattern.search(text):
                    found.append(f"{what if text.strip() else 'an empty text'} in {where}:\n    {text!r}")
                    break
        return found


class Run:
    def __init__(self, url: str, audience: int, capabilities: frozenset[str], seen: Seen, label: str,
                 rotas: dict[str, RotaPlan] | None = None):
        toml = resources.files("bot").joinpath("programmes", "default.toml").read_text(encoding="utf-8")
        self.programme = parse_programme(toml + STAFF_STEPS, "default.toml and staff steps")
        self.db = Database(url)
        migrate.upgrade(self.db.engine)
        self.clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
        self.sender = RecordingSender(capabilities)
        self.core = Pairbot(self.db, self.clock, Capabilities({PLATFORM: capabilities}))
        self.seen, self.label = seen, label
        self.users: dict[str, Address] = {}
        self.rotas = rotas or {}
        self.offers_answered = -1
        self.handled = 0
        self.digest_week: int | None = None
        now = self.clock.now()
        with self.db.session() as session:
            org = enrolment.organisation(session, PLATFORM, "T1", "Test Trust", now)
            for user, name, role in (("rita", "Rita Coordinator", "coordinator"),
                                     ("fran", "Fran Facilitator", "facilitator")):
                self.users[user] = Address(PLATFORM, "T1", user)
                who = enrolment.person(session, org, self.users[user], name, now)
                enrolment.grant(session, org, who, role, now)
            cohort = enrolment.create_cohort(session, org, "Spring 2027", START, self.programme, "Europe/London", now)
            members = []
            for user, (name, role) in list(MEMBERS.items())[:audience]:
                members.append(self._enrol(session, cohort, org, user, name, role, now))
            enrolment.make_pair(session, cohort, members, now)
            # Someone left without a buddy (waiting for a re-pair) still gets every personal step.
            self._enrol(session, cohort, org, "una", "Una Single", "clinician", now)
            cohort.status = "running"
            self.cohort_id = cohort.id

    def _enrol(self, session, cohort, org, user, name, role, now):
        self.users[user] = Address(PLATFORM, "T1", user)
        return enrolment.enrol(session, cohort, org, enrolment.Enrolee(
            address=self.users[user], name=name, role=role, availability=WEEK, profession=role.title(),
            rota_plan=self.rotas[user].to_dict() if user in self.rotas else None), now)

    def deliver(self) -> None:
        asyncio.run(DeliveryWorker(self.core, self.sender).drain())

    def record_new(self, where: str) -> list:
        new = self.sender.sent[self.handled:]
        self.handled = len(self.sender.sent)
        for recipient, message in new:
            to = "the pair's conversation" if recipient.group else ", ".join(a.user for a in recipient.members)
            self.seen.add(f"{where}, to {to} [{self.label}]", message)
        return new

    def reply(self, where: str, replies: list[Message]) -> list[Message]:
        for message in replies:
            self.seen.add(f"{where}, reply [{self.label}]", message)
        self.deliver()
        return replies

    def answer(self, user: str, message: Message, turn: int, where: str, depth: int = 0) -> None:
        """Answer a message the way this person would, then whatever the answer brings back."""
        if depth > 40:
            return
        who = self.users[user]
        if message.form is not None and turn % 2 == 0:
            answers = {f.id: (f.options[0] if f.options else "3" if f.kind == "scale" else "Some words")
                       for f in message.form.fields}
            replies = self.core.handle(Submitted(who, message.form.id, answers))
        elif message.choices:
            picked = message.choices[turn % len(message.choices)]
            replies = self.core.handle(Clicked(who, picked.action, picked.value))
        elif message.intent in ("enrol", "survey_question", "contract_question", "reask"):
            typed = "Mon 12:00-14:00" if message.intent == "enrol" else "Some words about it"
            replies = self.core.handle(Said(who, typed))
        else:
            return
        for reply in self.reply(f"{where}, {user} answering", replies):
            self.answer(user, reply, turn, where, depth + 1)

    def run(self, answering: bool) -> None:
        for user in ("rita", "asha", "una"):
            self.reply("help", self.core.handle(Said(self.users[user], "help")))
        self.reply("nothing to answer", self.core.handle(Said(self.users["asha"], "what now")))
        turn = 0
        for due, step in self.programme.timeline(START, TZ):
            due = due.astimezone(timezone.utc)
            self._pass_time_until(due, answering)
            self.core.run_step(self.cohort_id, step.id)
            self.deliver()
            for recipient, message in self.record_new(f"step {step.id}"):
                if not answering:
                    continue
                for address in recipient.members:
                    turn += 1
                    self.answer(address.user, message, turn, f"step {step.id}")
                    self.record_new(f"after step {step.id}")
        for user in ("rita", "fran"):
            self.reply("status", [self.core.handle(Command(self.users[user], "status"))[0]])
        for user in ("asha", "una"):
            self.reply("my answers", [self.core.handle(Command(self.users[user], "my-answers"))[0]])

    def _pass_time_until(self, due: datetime, answering: bool) -> None:
        """Meeting checks as they fall due, the daily sweep every few days (a quiet pair is nudged
        after three weeks) and the weekly digest once a week."""
        while self.clock.now() < due:
            wakeups = self.core.pending_wakeups()
            later = [w.at for w in wakeups if w.at > self.clock.now()]
            self.clock.set(min([due, self.clock.now() + timedelta(days=3), *later]))
            for wakeup in wakeups:
                if wakeup.at <= self.clock.now():
                    self.core.run_wakeup(wakeup.job, wakeup.ref_id)
            self.core.sweep_quiet_pairs(self.cohort_id)
            week = (self.clock.now().date() - START).days // 7
            if week != self.digest_week:
                self.digest_week = week
                self.core.send_weekly_digest(self.cohort_id)
            self.deliver()
            for recipient, message in self.record_new("between steps"):
                if answering and message.intent == "moving_on_offer":  # each button in turn
                    self.offers_answered += 1
                    self.answer(recipient.members[0].user, message, self.offers_answered, "moving-on offer")
                    self.record_new("after a moving-on offer")
                elif answering and message.intent == "did_you_meet":
                    self.answer(recipient.members[0].user, message, self.handled, "meeting check")
                    self.record_new("after a meeting check")


def _assert_clean(seen: Seen) -> None:
    problems = seen.problems()
    assert not problems, f"{len(problems)} messages read wrong:\n" + "\n".join(problems[:40])


# Every capability set with a pair, and each larger group with a group conversation and without
# one, with forms and without: each text an audience can get is made at least once (a whole
# programme per run, so not every one of the twelve combinations).
COMBINATIONS = [("pair", c) for c in CAPABILITIES] + [
    ("trio", "chat only"), ("trio", "group conversations and forms"),
    ("four", "group conversations"), ("four", "forms")]


@pytest.mark.parametrize("audience, capabilities", COMBINATIONS, ids=[f"{a}, {c}" for a, c in COMBINATIONS])
def test_every_message_of_the_programme_reads_right(tmp_path, audience, capabilities):
    seen = Seen()
    run = Run(f"sqlite:///{tmp_path / 'p.sqlite'}", AUDIENCES[audience], CAPABILITIES[capabilities], seen,
              f"{audience}, {capabilities}")
    run.run(answering=True)
    intents = {m.intent for _r, m in run.sender.sent}
    assert {"pair_intro", "propose_buddy", "group_meeting", "digest", "reflect", "project"} <= intents
    staff_steps = {(r.members[0].user, m.intent) for r, m in run.sender.sent if m.intent == "group_meeting"}
    assert {("rita", "group_meeting"), ("fran", "group_meeting")} <= staff_steps
    assert len(seen.items) > 150
    _assert_clean(seen)


@pytest.mark.parametrize("audience", ["pair", "four"])
def test_every_message_about_someone_moving_on_reads_right(tmp_path, audience):
    """A rotation and a long leave mid-programme: the coordinator's warning, the pair's offer, and
    what each button brings."""
    seen = Seen()
    rotas = {"asha": RotaPlan(works_shifts=False, rotates=START + timedelta(weeks=10, days=2)),
             "ben": RotaPlan(works_shifts=False,
                             leave=(Leave(START + timedelta(weeks=6), START + timedelta(weeks=8)),))}
    run = Run(f"sqlite:///{tmp_path / 'p.sqlite'}", AUDIENCES[audience], CAPABILITIES["chat only"], seen,
              f"{audience}, moving on", rotas)
    run.run(answering=True)
    intents = {m.intent for _r, m in run.sender.sent}
    assert {"rotation_warning", "moving_on_offer", "moving_on_carry_on"} <= intents
    _assert_clean(seen)


@pytest.mark.parametrize("audience", ["pair", "four"])
def test_every_message_when_nobody_answers_reads_right(tmp_path, audience):
    """Silence brings the other half: nudges, escalations, survey reminders, unscheduled meetings."""
    seen = Seen()
    run = Run(f"sqlite:///{tmp_path / 'p.sqlite'}", AUDIENCES[audience], CAPABILITIES["chat only"], seen,
              f"{audience}, nobody answers")
    run.run(answering=False)
    intents = {m.intent for _r, m in run.sender.sent}
    assert {"quiet_pair_nudge", "quiet_pair_escalation", "survey_reminder"} <= intents
    _assert_clean(seen)


@pytest.mark.parametrize("survey_id", sorted(default_surveys()))
def test_every_survey_item_reads_right_as_a_chat_question_and_as_a_form(tmp_path, survey_id):
    survey = default_surveys()[survey_id]
    seen = Seen()
    form = survey_form(survey)
    seen.add(f"{survey_id} as a form", Message(survey.title, form=form))
    run = Run(f"sqlite:///{tmp_path / 'p.sqlite'}", 2, frozenset(), seen, f"{survey_id} in chat")
    step = next(s for s in run.programme.steps if (s.params.get("survey") or s.intent) == survey_id)
    run.clock.set(step.due_at(START, TZ).astimezone(timezone.utc))
    run.core.run_step(run.cohort_id, step.id)
    run.deliver()
    asked = [m for _r, m in run.record_new(f"step {step.id}") if m.intent == "survey_question"]
    assert asked
    # Asha answers every item in chat: each reply is the next question, then "done".
    message, questions = asked[0], 1
    while message.intent in ("survey_question", "reask"):
        if message.choices:
            picked = message.choices[-1]
            message = run.reply(survey_id, run.core.handle(Clicked(run.users["asha"], picked.action, picked.value)))[0]
        else:
            message = run.reply(survey_id, run.core.handle(Said(run.users["asha"], "Some words")))[0]
        questions += message.intent == "survey_question"
    assert message.intent == "survey_done" and questions == len(survey.items)
    # A wrong answer is re-asked, naming what is expected.
    run.core.run_step(run.cohort_id, step.id)
    run.reply(survey_id, run.core.handle(Command(run.users["una"], f"answer {survey_id} 1 banana")))
    _assert_clean(seen)


def test_the_checks_catch_what_they_are_for():
    seen = Seen()
    for text in ("How is it going with , Asha?", "Are you and  still in touch", "Hi {first_name}",
                 "How is your pairing going?, question 1 of 2", "Thanks..", "Two  spaces",
                 "Launch workshop on Thu 06 Mar"):
        seen.add("example", Message(text))
    assert len(seen.problems()) == 7
    clean = Seen()
    clean.add("example", Message("Sorry... Mon 8 Mar, 08:00. How is it going with Ben, Asha? Go on."))
    assert clean.problems() == []


def test_survey_titles_read_as_names_and_times_keep_their_leading_zero(tmp_path):
    from zoneinfo import ZoneInfo

    from bot.slots import format_slot

    assert format_slot(datetime(2027, 3, 8, 8, 0, tzinfo=timezone.utc), ZoneInfo("Europe/London")) == "Mon 8 Mar, 08:00"
    assert format_slot(datetime(2027, 3, 10, 17, 5, tzinfo=timezone.utc), ZoneInfo("Europe/London")) == \
        "Wed 10 Mar, 17:05"
    seen = Seen()
    run = Run(f"sqlite:///{tmp_path / 'p.sqlite'}", 2, frozenset(), seen, "fit check")
    run.clock.set(run.programme.step("fit-check").due_at(START, TZ).astimezone(timezone.utc))
    run.core.run_step(run.cohort_id, "fit-check")
    run.deliver()
    first = [m for r, m in run.record_new("fit check") if r.members[0].user == "asha"][0]
    assert first.text.startswith("How is it going with Ben Okafor, Asha?")
    assert "How is your pairing going? (question 1 of 2)" in first.text
    una = [m for r, m in run.sender.sent if r.members[0].user == "una"][0]
    assert una.text.startswith("How is it going with your buddy, Una?")
    for answer in ("4", "no"):
        reply = run.core.handle(Said(run.users["asha"], answer))[0]
    assert reply.text == "Thank you, that's the 'How is your pairing going?' survey done."
