"""Commands as phones type them: curly quotes, dashes for "--", odd spaces and digits, numbers and
dates out of range. Every one gets a reply that names the problem, never a traceback."""

from __future__ import annotations

import re
import shlex

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.commands import REGISTRY
from bot.models import Cohort, Pair
from test_commands import Org

# Each command as a coordinator would type it; the examples mangle its words as phones do.
TEMPLATES = ["cohort create 'Spring 2027' --start 2027-03-01", "cohort show 'Spring 2027'", "cohort list",
             "timeline shift 2", "enrol @asha clinician profession=Nurse", "import confirm 3", "remove @asha",
             "coordinator add @asha", "facilitator remove @fran", "pair --department same --seed 7",
             "pair confirm", "pair swap @asha @ben", "pair manual @asha @ben", "pair break #12",
             "pair exclude @asha @ben", "start 'Spring 2027'", "pause @asha until 2027-03-01", "resume @asha",
             "nudge @asha", "status #12", "status @asha", "answer pre 3 4", "my-answers", "help", "export",
             "report", "my-data"]
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
MANGLE = [
    lambda w: w,
    lambda w: w + "0" * 20,  # a 20-digit id, a number far out of range
    lambda w: w.translate(SUPERSCRIPTS),  # "²".isdigit() is True, int("²") fails
    lambda w: re.sub(r"\d{4}", "0001", w, count=1),  # year 0001
    lambda w: re.sub(r"\d{4}", "9999", w, count=1),
    lambda w: f"“{w}”",
    lambda w: f"‘{w}’",
    lambda w: w.replace("--", "—"),  # iOS turns "--" into an em dash
    lambda w: w.replace("-", "–"),
]
ODD = ["O’Brien", "٣", "①", "-99999999999999999999", "2027-02-30", "#0", "\u00a0", "\u200b", "🙂", "\\", "'", '"',
       "“", "’", "x=y", "@ghost"]


@st.composite
def typed_command(draw) -> str:
    words = shlex.split(draw(st.sampled_from(TEMPLATES)))
    name = 2 if " ".join(words[:2]) in REGISTRY else 1
    typed = [f"'{w}'" if " " in w else w for w in words[:name]]
    for original in words[name:]:
        original = f"'{original}'" if " " in original else original
        choice = draw(st.one_of(st.sampled_from(MANGLE), st.sampled_from(ODD), st.text(max_size=4)))
        typed.append(choice(original) if callable(choice) else choice)
    if draw(st.booleans()):
        typed.append(draw(st.one_of(st.sampled_from(ODD), st.text(max_size=6))))
    return " ".join(typed)


@settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(typed_command(), st.text(max_size=30)))
@example(text="pair break #12345678901234567890")
@example(text="import confirm 12345678901234567890")
@example(text="pair --seed ²")
@example(text="answer pre ² 4")
@example(text="cohort create Old --start 0001-01-01")
@example(text="pause @asha until 9999-12-31")
@example(text="status #99999999999999999999999")
def test_any_text_a_coordinator_or_participant_types_gets_a_reply_not_an_exception(sqlite_url, text):
    org = _org(sqlite_url)
    for who in ("rita", "asha"):
        reply = org.command(who, text)
        assert reply.text.strip(), text


_ORGS: dict[str, Org] = {}


def _org(url: str) -> Org:
    """One organisation for all examples of a run: what one example creates, the next may name."""
    if url not in _ORGS:
        org = _ORGS[url] = Org(url)
        org.ok("rita", "cohort create 'Spring 2027' --start 2027-01-04")
        org.ok("rita", "enrol @asha clinician")
        org.ok("rita", "enrol @ben manager")
    return _ORGS[url]


def test_curly_quotes_from_a_phone_are_quotes_and_an_apostrophe_stays_in_the_name(sqlite_url):
    org = Org(sqlite_url)
    assert "Created Spring 2027" in org.ok("rita", "cohort create “Spring 2027” —start 2027-01-04")
    assert "Created O’Brien’s cohort" in org.ok("rita", "cohort create ‘O’Brien’s cohort’ –start 2027-02-01")
    with org.db.session() as s:
        assert sorted(s.scalars(select(Cohort.name))) == ["O’Brien’s cohort", "Spring 2027"]
    assert "Spring 2027" in org.ok("rita", "cohort show “Spring 2027”")


def test_numbers_and_dates_out_of_range_are_named(sqlite_url):
    org = Org(sqlite_url)
    far = org.command("rita", "cohort create Old --start 0001-01-01")
    assert far.intent == "error" and "0001-01-01 is out of range" in far.text and "2000 and 2100" in far.text
    org.ok("rita", "cohort create 'Spring 2027' --start 2027-01-04")
    org.ok("rita", "enrol @asha clinician")
    org.ok("rita", "enrol @ben manager")
    assert "There is no pair #12345678901234567890" in org.command("rita", "pair break #12345678901234567890").text
    assert "There is no import 12345678901234567890 waiting" in org.command(
        "rita", "import confirm 12345678901234567890").text
    seed = org.command("rita", "pair --seed 12345678901234567890")
    assert seed.intent == "error" and "out of range: --seed is from 0 to 4294967295" in seed.text
    assert "'²' is not a whole number" in org.command("rita", "pair --seed ²").text
    assert "'²' is not a whole number" in org.command("asha", "answer pre ² 4").text
    assert "9999-12-31 is out of range: give a return date" in org.command("rita", "pause @asha until 9999-12-31").text
    assert org.count(Pair) == 0
