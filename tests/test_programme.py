"""Programme files: the default programme, validation messages, the timeline."""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import bot.programme as programme_module
from bot.programme import (
    ALLOWED_AUDIENCES,
    AUDIENCES,
    INTENTS,
    PARAMS,
    PLACEHOLDERS,
    Params,
    Programme,
    ProgrammeError,
    Step,
    allowed_placeholders,
    default_programme,
    load_programme,
    parse_programme,
    render_timeline,
    step_due_at,
)

LONDON = ZoneInfo("Europe/London")
START = date(2026, 1, 5)  # a Monday

HEAD = """\
[programme]
name = "Test programme"
meetings_target = 2
group_meetings_target = 1
"""


def toml(*steps: str, head: str = HEAD) -> str:
    return head + "\n" + "\n".join(textwrap.dedent(s).strip() + "\n" for s in steps)


def step(
    id: str = "buddy-1",
    *,
    week: object = 1,
    intent: str = "propose_meeting",
    audience: str = "pair",
    text: str = "Time for a buddy meeting.",
    extra: str = "",
) -> str:
    lines = ["[[steps]]"]
    if id is not None:
        lines.append(f'id = "{id}"')
    if week is not None:
        lines.append(f"week = {week}")
    lines.append(f'intent = "{intent}"')
    lines.append(f'audience = "{audience}"')
    lines.append(f"text = {json.dumps(text)}")
    if extra:
        lines.append(textwrap.dedent(extra).strip())
    return "\n".join(lines)


def problems_of(text: str, source: str = "test.toml") -> ProgrammeError:
    with pytest.raises(ProgrammeError) as info:
        parse_programme(text, source)
    return info.value


# --------------------------------------------------------------------------- #
# The default programme
# --------------------------------------------------------------------------- #

# DOMAIN.md, "Default four-month programme": week -> intents.
DOMAIN_WEEKS = {
    -2: ["enrol"],
    -1: ["pair_intro", "pre_survey"],
    0: ["group_meeting"],
    1: ["propose_meeting"],
    2: ["contract", "fit_check"],
    4: ["propose_meeting", "propose_shadowing"],
    6: ["group_meeting"],
    8: ["propose_meeting", "propose_shadowing", "pulse", "project"],
    12: ["propose_meeting", "project", "reflect"],
    15: ["post_survey"],
    16: ["group_meeting"],
    28: ["follow_up"],
}


@pytest.fixture(scope="module")
def default() -> Programme:
    return default_programme()


def test_default_programme_has_the_domain_intents_at_the_right_weeks(default: Programme) -> None:
    weeks: dict[int, list[str]] = defaultdict(list)
    for s in default.steps:
        weeks[s.week].append(s.intent)
    assert {w: sorted(i) for w, i in weeks.items()} == {w: sorted(i) for w, i in DOMAIN_WEEKS.items()}
    assert {s.intent for s in default.steps} == set(INTENTS)


def test_default_programme_targets_and_params(default: Programme) -> None:
    assert default.meetings_target == 4
    assert default.group_meetings_target == 3
    assert default.source == "default.toml"

    meetings = default.steps_for("propose_meeting")
    assert [s.params["meeting_number"] for s in meetings] == [1, 2, 3, 4]
    assert [s.week for s in meetings] == [1, 4, 8, 12]

    shadowing = {s.week: s.params["direction"] for s in default.steps_for("propose_shadowing")}
    assert shadowing == {4: "manager_shadows_clinician", 8: "clinician_shadows_manager"}

    groups = {s.week: s.params["title"] for s in default.steps_for("group_meeting")}
    assert groups == {
        0: "Launch workshop",
        6: "Group meeting 2",
        16: "Celebration and project presentations",
    }
    for s in default.steps_for("group_meeting"):
        assert "held_days_after" not in s.params
        assert s.params["held_day"] == 3 and s.params["location"].startswith("Education Centre")

    (pre,) = default.steps_for("pre_survey")
    assert (pre.week, pre.audience, pre.params["survey"]) == (-1, "each_member", "pre_survey")
    (enrol,) = default.steps_for("enrol")
    assert enrol.week == -2 and enrol.audience == "each_member"
    assert "rota" in enrol.text and "free" in enrol.text  # profile and availability
    (intro,) = default.steps_for("pair_intro")
    assert intro.audience == "pair"


def test_default_programme_messages_are_short_and_fill_in(default: Programme) -> None:
    sample = {
        "first_name": "Asha",
        "buddy_names": "Ben",
        "cohort": "Spring 2026",
        "week": 3,
        "title": "Launch workshop",
        "held_at": "Thu 8 Jan 14:00",
    }
    for s in default.steps:
        assert len(s.text) <= 160, s.id
        sentences = re.findall(r"[.!?](?:\s|$)", s.text)
        assert 1 <= len(sentences) <= 2, (s.id, s.text)
        values = {k: v for k, v in sample.items() if k in allowed_placeholders(s.intent, s.audience)}
        rendered = s.text.format_map(values)
        assert "{" not in rendered and "}" not in rendered
        assert s.audience in ALLOWED_AUDIENCES[s.intent]


def test_default_programme_staggers_steps_within_a_week(default: Programme) -> None:
    slots = [(s.week, s.day, s.time) for s in default.steps]
    assert len(slots) == len(set(slots)), "two steps of one week arrive at the same moment"


def test_default_programme_ids_are_unique(default: Programme) -> None:
    ids = [s.id for s in default.steps]
    assert len(ids) == len(set(ids))
    assert default.step("buddy-meeting-1").intent == "propose_meeting"
    with pytest.raises(KeyError):
        default.step("no-such-step")


def test_module_imports_no_platform_or_storage_library() -> None:
    tree = ast.parse(Path(programme_module.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    forbidden = {"slack_bolt", "slack_sdk", "botbuilder", "apscheduler", "sqlalchemy", "adapters"}
    assert not imported & forbidden


# --------------------------------------------------------------------------- #
# Timeline
# --------------------------------------------------------------------------- #


def test_week_one_step_is_due_a_week_after_the_start(default: Programme) -> None:
    s = default.step("buddy-meeting-1")
    due = step_due_at(s, START, LONDON)
    assert due == datetime(2026, 1, 12, 9, 30, tzinfo=LONDON)
    assert due.utcoffset() == timedelta(0)
    assert due.astimezone(timezone.utc) == datetime(2026, 1, 12, 9, 30, tzinfo=timezone.utc)


def test_steps_before_the_start_and_on_later_days() -> None:
    s = Step("enrol", -2, 3, time(14, 15), "enrol", "each_member", "Hello {first_name}.")
    assert step_due_at(s, START, LONDON) == datetime(2025, 12, 25, 14, 15, tzinfo=LONDON)
    assert s.due_at(START, "Europe/London") == datetime(2025, 12, 25, 14, 15, tzinfo=LONDON)


def test_local_wall_time_is_kept_across_the_march_clock_change(default: Programme) -> None:
    # Clocks go forward on Sunday 29 March 2026 in the UK.
    before = step_due_at(default.step("buddy-meeting-3"), START, LONDON)
    after = step_due_at(default.step("buddy-meeting-4"), START, LONDON)
    assert (before.date(), before.time()) == (date(2026, 3, 2), time(9, 30))
    assert (after.date(), after.time()) == (date(2026, 3, 30), time(9, 30))
    assert before.utcoffset() == timedelta(0)
    assert after.utcoffset() == timedelta(hours=1)
    assert after.astimezone(timezone.utc) == datetime(2026, 3, 30, 8, 30, tzinfo=timezone.utc)


def test_step_on_the_day_of_the_clock_change() -> None:
    s = Step("sunday", 11, 6, time(9, 0), "pulse", "each_member", "How is it going?")
    due = step_due_at(s, START, LONDON)
    assert due.date() == date(2026, 3, 29)
    assert due.astimezone(timezone.utc) == datetime(2026, 3, 29, 8, 0, tzinfo=timezone.utc)


def test_timeline_is_sorted_and_complete(default: Programme) -> None:
    timeline = default.timeline(START, LONDON)
    assert len(timeline) == len(default.steps)
    moments = [due for due, _ in timeline]
    assert moments == sorted(moments)
    assert all(due.tzinfo is LONDON for due in moments)
    assert timeline[0][0].date() == date(2025, 12, 22)  # week -2
    assert timeline[-1][1].intent == "follow_up"
    assert timeline[-1][0].date() == START + timedelta(weeks=28)


def test_timeline_accepts_a_zone_name() -> None:
    p = default_programme()
    assert p.timeline(START, "Europe/London") == p.timeline(START, LONDON)
    with pytest.raises(ValueError, match="unknown time zone"):
        p.timeline(START, "Mars/Olympus_Mons")


def test_steps_are_sorted_by_week_day_time_then_file_order() -> None:
    text = toml(
        step("c", week=2),
        step("a", week=1, extra='day = 2\ntime = "08:00"'),
        step("b", week=1, extra='day = 2\ntime = "08:00"'),
        step("d", week=1, extra='time = "17:00"'),
        step("e", week=1, extra='time = "07:00"'),
    )
    p = parse_programme(text, "order.toml")
    assert [s.id for s in p.steps] == ["e", "d", "a", "b", "c"]
    # meeting numbers default to the order of the propose_meeting steps
    assert [s.params["meeting_number"] for s in p.steps] == [1, 2, 3, 4, 5]


def test_render_timeline_shows_real_dates(default: Programme) -> None:
    out = render_timeline(default, START, LONDON)
    lines = out.splitlines()
    assert "Four-month paired learning" in lines[0]
    assert "Mon 5 Jan 2026" in out and "Europe/London" in out
    assert "Mon 22 Dec 2025 09:00  week -2  enrol" in out
    assert "Mon 12 Jan 2026 09:30  week  1  propose_meeting     pair          Time for your first" in out
    assert "Mon 30 Mar 2026 09:30  week 12  propose_meeting" in out
    assert "Launch workshop, held Thu 8 Jan" in out
    assert "manager shadows clinician" in out
    assert all(len(line) <= 110 for line in lines)
    assert len([l for l in lines if re.match(r"^\w{3} [ \d]\d \w{3} \d{4} \d\d:\d\d", l)]) == len(
        default.steps
    )


# --------------------------------------------------------------------------- #
# Snapshots
# --------------------------------------------------------------------------- #


def test_to_dict_from_dict_round_trip(default: Programme) -> None:
    d = default.to_dict()
    again = Programme.from_dict(json.loads(json.dumps(d)))
    assert again == default
    assert again.to_dict() == d
    assert hash(again) == hash(default)
    assert again.steps[0].params == default.steps[0].params


def test_from_dict_validates_like_a_file(default: Programme) -> None:
    d = default.to_dict()
    d["steps"][4]["audience"] = "managers"
    with pytest.raises(ProgrammeError) as info:
        Programme.from_dict(d)
    assert "step 'buddy-meeting-1' field 'audience'" in str(info.value)

    d = default.to_dict()
    d["format"] = 99
    with pytest.raises(ProgrammeError, match="format 99"):
        Programme.from_dict(d)


def test_steps_are_frozen_and_params_read_only(default: Programme) -> None:
    s = default.steps[0]
    with pytest.raises(AttributeError):
        s.week = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        default.step("launch-workshop").params["title"] = "x"  # type: ignore[index]
    assert isinstance(default.step("launch-workshop").params, Params)
    assert hash(s) == hash(s)
    assert Step("x", 0, 0, time(9), "enrol", "each_member", "Hi.", {"a": 1}).params == {"a": 1}


def test_load_programme_reads_a_file(tmp_path: Path, default: Programme) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(toml(step("only", week=0)), encoding="utf-8")
    p = load_programme(path)
    assert p.name == "Test programme" and [s.id for s in p.steps] == ["only"]
    assert p.source == str(path)

    with pytest.raises(ProgrammeError, match="no such file"):
        load_programme(tmp_path / "missing.toml")


# --------------------------------------------------------------------------- #
# Validation messages
# --------------------------------------------------------------------------- #


def test_defaults_are_filled_in() -> None:
    text = toml(
        step("launch", week=0, intent="group_meeting", audience="each_member",
             text="Hi {first_name}, {title} is on {held_at}.",
             extra='[steps.params]\ntitle = "Launch"'),
        step("pre", week=-1, intent="pre_survey", audience="each_member", text="Survey time."),
    )
    p = parse_programme(text, "t.toml")
    launch = p.step("launch")
    assert launch.day == 0 and launch.time == time(9, 0)
    assert dict(launch.params) == {
        "title": "Launch", "held_week": 0, "held_day": 3, "held_time": "13:00", "duration_minutes": 120,
        "location": "",
    }
    assert dict(p.step("pre").params) == {"survey": "pre_survey"}


def test_targets_default_to_the_number_of_steps() -> None:
    p = parse_programme(toml(step("m1"), step("m2", week=2), head='[programme]\nname = "X"\n'), "t.toml")
    assert (p.meetings_target, p.group_meetings_target, p.description) == (2, 0, "")


def test_bad_audience_names_file_step_and_field() -> None:
    err = problems_of(toml(step("buddy-1", audience="pairs")), "default.toml")
    assert str(err) == (
        "1 problem in default.toml\n"
        "  default.toml: step 'buddy-1' field 'audience': 'pairs' is not one of "
        "pair, each_member, clinicians, managers, coordinators, facilitators"
    )
    assert err.problems == (
        "default.toml: step 'buddy-1' field 'audience': 'pairs' is not one of "
        "pair, each_member, clinicians, managers, coordinators, facilitators",
    )


def test_audience_not_allowed_for_intent() -> None:
    err = problems_of(toml(step("buddy-1", audience="managers")))
    assert "step 'buddy-1' field 'audience': propose_meeting steps cannot go to 'managers'" in str(err)
    assert "(allowed: pair)" in str(err)

    err = problems_of(toml(step("pre", intent="pre_survey", audience="pair")))
    assert "step 'pre' field 'audience': pre_survey steps cannot go to 'pair'" in str(err)


@pytest.mark.parametrize("missing", ["week", "intent", "audience", "text"])
def test_missing_required_field(missing: str) -> None:
    full = {
        "id": '"buddy-1"',
        "week": "1",
        "intent": '"propose_meeting"',
        "audience": '"pair"',
        "text": '"Hello."',
    }
    body = "\n".join(f"{k} = {v}" for k, v in full.items() if k != missing)
    err = problems_of(HEAD + "\n[[steps]]\n" + body + "\n")
    assert f"test.toml: step 'buddy-1' field '{missing}': missing required field" in str(err)


def test_missing_id_names_the_step_by_position() -> None:
    text = toml(step("first"), step(None, week=3))  # type: ignore[arg-type]
    err = problems_of(text)
    assert "test.toml: step 2 field 'id': missing required field" in str(err)


def test_bad_id_names_the_step_by_position() -> None:
    err = problems_of(toml(step("Buddy One", week="\"two\"")))
    msg = str(err)
    assert "2 problems in test.toml" in msg
    assert "step 1 field 'id': 'Buddy One' is not a valid id" in msg
    assert "step 1 field 'week': expected an integer, got 'two'" in msg


def test_wrong_types() -> None:
    err = problems_of(
        toml(step("a", week=1.5), step("b", extra="day = true"), step("c", extra="time = 930"))
    )
    msg = str(err)
    assert "step 'a' field 'week': expected an integer, got 1.5" in msg
    assert "step 'b' field 'day': expected an integer, got true" in msg
    assert "step 'c' field 'time': expected a time \"HH:MM\", got 930" in msg


def test_out_of_range_week_and_day() -> None:
    err = problems_of(toml(step("a", week=61), step("b", week=-9), step("c", extra="day = 7")))
    msg = str(err)
    assert "step 'a' field 'week': 61 is out of range (expected -8..60)" in msg
    assert "step 'b' field 'week': -9 is out of range (expected -8..60)" in msg
    assert "step 'c' field 'day': 7 is out of range (expected 0..6)" in msg


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("25:00", "'25:00' is not a valid time: the hour must be 00..23"),
        ("09:60", "'09:60' is not a valid time: the minutes must be 00..59"),
        ("9am", "'9am' is not a time (expected HH:MM, e.g. '09:30')"),
    ],
)
def test_bad_time(value: str, expected: str) -> None:
    err = problems_of(toml(step("buddy-1", extra=f'time = "{value}"')))
    assert f"step 'buddy-1' field 'time': {expected}" in str(err)


def test_toml_local_time_is_accepted() -> None:
    p = parse_programme(toml(step("a", extra="time = 13:45:00")), "t.toml")
    assert p.steps[0].time == time(13, 45)


def test_unknown_field_is_named() -> None:
    err = problems_of(toml(step("buddy-1", extra='colour = "blue"\nweeks = 3')))
    msg = str(err)
    assert "step 'buddy-1' field 'colour': unknown field (allowed: id, week, day, time" in msg
    assert "step 'buddy-1' field 'weeks': unknown field; did you mean 'week'?" in msg


def test_unknown_programme_field_and_top_level_key() -> None:
    err = problems_of(toml(step("a"), head=HEAD + 'nmae = "x"\n') + "\n[extra]\nx = 1\n")
    msg = str(err)
    assert "test.toml: [programme] field 'nmae': unknown field; did you mean 'name'?" in msg
    assert "test.toml: unknown top-level table or key 'extra'" in msg


def test_programme_table_problems() -> None:
    err = problems_of(toml(step("a"), head='[programme]\ndescription = 3\nmeetings_target = "four"\n'))
    msg = str(err)
    assert "[programme] field 'name': missing required field" in msg
    assert "[programme] field 'description': expected a string, got 3" in msg
    assert "[programme] field 'meetings_target': expected an integer, got 'four'" in msg

    err = problems_of(toml(step("a"), head=""))
    assert "missing the [programme] table" in str(err)


def test_no_steps() -> None:
    err = problems_of(HEAD)
    assert "test.toml: the programme has no steps" in str(err)


def test_duplicate_id_names_both_positions() -> None:
    err = problems_of(toml(step("buddy-1"), step("other", week=2), step("buddy-1", week=3)))
    assert (
        "test.toml: step 3 (id 'buddy-1') field 'id': duplicate id 'buddy-1': step 1 already uses it"
        in str(err)
    )


def test_unknown_intent() -> None:
    err = problems_of(toml(step("buddy-1", intent="propose_meting")))
    msg = str(err)
    assert "step 'buddy-1' field 'intent': 'propose_meting' is not one of enrol, pair_intro" in msg
    assert "did you mean 'propose_meeting'?" in msg


def test_shadowing_needs_a_valid_direction() -> None:
    err = problems_of(
        toml(
            step("shadow-1", intent="propose_shadowing"),
            step("shadow-2", intent="propose_shadowing",
                 extra='[steps.params]\ndirection = "both_ways"'),
        )
    )
    msg = str(err)
    assert (
        "step 'shadow-1' field 'params.direction': missing required parameter for propose_shadowing "
        "(one of manager_shadows_clinician, clinician_shadows_manager)" in msg
    )
    assert (
        "step 'shadow-2' field 'params.direction': 'both_ways' is not one of "
        "manager_shadows_clinician, clinician_shadows_manager" in msg
    )


def test_group_meeting_params() -> None:
    def group(id: str, params: str) -> str:
        return step(id, week=0, intent="group_meeting", audience="each_member",
                    text="See you there.", extra="[steps.params]\n" + params)

    err = problems_of(
        toml(
            group("g1", "held_days_after = 3"),
            group("g2", 'title = "Launch"\nheld_days_after = 29'),
            group("g3", 'title = 5\nlocation = "Room 1"'),
            group("g4", 'title = "Launch"\nroom = "B2"'),
        )
    )
    msg = str(err)
    assert "step 'g1' field 'params.title': missing required parameter for group_meeting" in msg
    assert "step 'g2' field 'params.held_days_after': 29 is out of range (expected 0..28)" in msg
    assert "step 'g3' field 'params.title': expected a string, got 5" in msg
    assert (
        "step 'g4' field 'params.room': unknown parameter for group_meeting "
        "(allowed: title, held_week, held_day, held_time, duration_minutes, location, held_days_after)" in msg
    )

    p = parse_programme(toml(group("g", 'title = "Launch"\nlocation = "Room 1"\nheld_days_after = 0')), "t")
    assert dict(p.steps[0].params) == {
        "title": "Launch", "location": "Room 1", "held_week": 0, "held_day": 0, "held_time": "13:00",
        "duration_minutes": 120,
    }


def test_meeting_number_and_survey_params() -> None:
    err = problems_of(
        toml(
            step("m", extra="[steps.params]\nmeeting_number = 0"),
            step("s", intent="pulse", audience="each_member", extra='[steps.params]\nsurvey = "Mid Point"'),
        )
    )
    msg = str(err)
    assert "step 'm' field 'params.meeting_number': 0 is out of range" in msg
    assert "step 's' field 'params.survey': 'Mid Point' is not a survey id" in msg

    p = parse_programme(
        toml(step("s", intent="pulse", audience="clinicians", extra='[steps.params]\nsurvey = "mid-point"')),
        "t",
    )
    assert p.steps[0].params["survey"] == "mid-point"


def test_params_for_an_intent_without_params() -> None:
    err = problems_of(toml(step("c", intent="contract", extra='[steps.params]\ndirection = "x"')))
    assert "step 'c' field 'params.direction': unknown parameter: contract takes no parameters" in str(err)


def test_unknown_placeholder_is_named() -> None:
    err = problems_of(toml(step("buddy-1", text="Hi {firstname}, meet {buddy_names}.")))
    assert "step 'buddy-1' field 'text': unknown placeholder {firstname}" in str(err)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {cohort", "broken braces in '{cohort': this '{' is never closed"),
        ("Hi cohort} there", "broken braces in 'Hi cohort}': this '}' has no opening '{'"),
        ("Hi {}", "unknown placeholder {}"),
        ("Hi {0}", "unknown placeholder {0}"),
        ("Hi {cohort.name}", "unknown placeholder {cohort.name}"),
    ],
)
def test_broken_braces_name_the_placeholder(text: str, expected: str) -> None:
    err = problems_of(toml(step("intro", intent="pair_intro", text=text)))
    assert f"test.toml: step 'intro' field 'text': {expected}" in str(err)


def test_literal_braces_are_fine() -> None:
    p = parse_programme(toml(step("a", text="Use {{braces}} in week {week}.")), "t")
    assert p.steps[0].text.format_map({"week": 1}) == "Use {braces} in week 1."
    assert p.steps[0].placeholders == {"week"}


def test_placeholders_must_suit_the_step() -> None:
    err = problems_of(
        toml(
            step("a", text="Hi {first_name}."),  # a pair message
            step("b", text="{title} is soon."),  # not a group meeting
            step("c", week=0, intent="group_meeting", audience="coordinators",
                 text="{buddy_names} are coming.", extra='[steps.params]\ntitle = "Launch"'),
            step("d", text="Week {week:>3}."),
        )
    )
    msg = str(err)
    assert "step 'a' field 'text': placeholder {first_name} cannot be used here" in msg
    assert "step 'b' field 'text': placeholder {title} cannot be used here" in msg
    assert "step 'c' field 'text': placeholder {buddy_names} cannot be used here" in msg
    assert "step 'd' field 'text': placeholder {week} must be written plainly" in msg


def test_all_errors_are_collected_one_per_line() -> None:
    text = toml(
        step("a", audience="pairs"),
        step("b", extra='time = "25:00"'),
        step("a", week=2),
        step("c", text="Hi {nope}."),
    )
    err = problems_of(text, "many.toml")
    lines = str(err).splitlines()
    assert lines[0] == "4 problems in many.toml"
    assert len(lines) == 5 and len(err.problems) == 4
    assert "step 'a' field 'audience'" in lines[1]
    assert "step 'b' field 'time'" in lines[2]
    assert "step 3 (id 'a') field 'id': duplicate id 'a': step 1 already uses it" in lines[3]
    assert "step 'c' field 'text': unknown placeholder {nope}" in lines[4]


def test_toml_syntax_error_names_file_and_line() -> None:
    text = HEAD + '\n[[steps]]\nid = "a"\nweek = \n'
    err = problems_of(text, "broken.toml")
    msg = str(err)
    assert msg.startswith("1 problem in broken.toml")
    assert re.search(r"broken\.toml: line 8, column \d+: TOML syntax error: Invalid value", msg)


def test_tables_cover_every_intent() -> None:
    assert set(ALLOWED_AUDIENCES) == set(INTENTS) == set(PARAMS)
    for intent, audiences in ALLOWED_AUDIENCES.items():
        assert audiences and set(audiences) <= set(AUDIENCES), intent
    assert set(PLACEHOLDERS) == {"first_name", "buddy_names", "cohort", "week", "title", "held_at", "location"}


# --------------------------------------------------------------------------- #
# Group meetings: the workshop's own date, time and place
# --------------------------------------------------------------------------- #

JAN_2027 = date(2027, 1, 11)  # a Monday


def group(id: str = "launch", *, week: int = 0, params: str = "", extra: str = "",
          text: str = "Hi {first_name}, {title} is on {held_at} at {location}.") -> str:
    return step(id, week=week, intent="group_meeting", audience="each_member", text=text,
                extra=(extra + "\n" if extra else "") + '[steps.params]\ntitle = "Launch"\n' + params)


def test_group_meeting_defaults_carry_past_the_end_of_the_week() -> None:
    p = parse_programme(toml(group(extra="day = 5")), "t.toml")
    launch = p.step("launch")
    assert (launch.params["held_week"], launch.params["held_day"]) == (1, 1)  # Saturday + 3 days
    assert launch.event_at(JAN_2027, LONDON) == datetime(2027, 1, 19, 13, 0, tzinfo=LONDON)
    assert launch.event_minutes == 120
    assert launch.params["location"] == ""


def test_group_meeting_held_at_its_own_week_day_time_and_place() -> None:
    p = parse_programme(toml(group(week=5, params='held_week = 6\nheld_day = 2\nheld_time = "10:30"\n'
                                                   'duration_minutes = 90\nlocation = "Library, Room 4"')), "t")
    launch = p.step("launch")
    assert launch.event_at(JAN_2027, "Europe/London") == datetime(2027, 2, 24, 10, 30, tzinfo=LONDON)
    assert launch.event_minutes == 90
    assert launch.params["location"] == "Library, Room 4"
    assert launch.placeholders == {"first_name", "title", "held_at", "location"}
    # Only the week given: the default day is the invitation's day + 3.
    p = parse_programme(toml(group(week=5, params="held_week = 6")), "t")
    assert p.step("launch").event_at(JAN_2027, LONDON) == datetime(2027, 2, 25, 13, 0, tzinfo=LONDON)


def test_legacy_held_days_after_counts_from_the_invitation_date_at_held_time() -> None:
    text = toml(group(extra='day = 1\ntime = "09:00"', params='held_days_after = 10\nheld_time = "15:30"'))
    p = parse_programme(text, "old.toml")
    launch = p.step("launch")
    assert launch.event_at(JAN_2027, LONDON) == datetime(2027, 1, 22, 15, 30, tzinfo=LONDON)  # Tue 12 + 10 days
    assert (launch.params["held_week"], launch.params["held_day"]) == (1, 4)
    assert "held_days_after" not in launch.params
    p = parse_programme(toml(group(params="held_days_after = 0")), "old.toml")
    assert p.step("launch").event_at(JAN_2027, LONDON) == datetime(2027, 1, 11, 13, 0, tzinfo=LONDON)


def test_bad_group_meeting_params_name_the_step_and_field() -> None:
    err = problems_of(toml(
        group("a", params="held_day = 7"),
        group("b", params="held_week = 61"),
        group("c", params='held_time = "25:00"'),
        group("d", params="duration_minutes = 10"),
        group("e", params="duration_minutes = 601"),
        group("f", params="location = 5"),
        group("g", params="held_week = 1\nheld_days_after = 3"),
        group("h", params='held_time = 1300'),
        group("i", params="held_day = \"Thursday\""),
    ))
    msg = str(err)
    assert msg.startswith("9 problems in test.toml")
    assert "test.toml: step 'a' field 'params.held_day': 7 is out of range (expected 0..6)" in msg
    assert "step 'b' field 'params.held_week': 61 is out of range (expected -8..60)" in msg
    assert "step 'c' field 'params.held_time': '25:00' is not a valid time: the hour must be 00..23" in msg
    assert "step 'd' field 'params.duration_minutes': 10 is out of range (expected 15..600)" in msg
    assert "step 'e' field 'params.duration_minutes': 601 is out of range (expected 15..600)" in msg
    assert "step 'f' field 'params.location': expected a string, got 5" in msg
    assert ("step 'g' field 'params.held_days_after': give held_week and held_day, "
            "or the older held_days_after, not both") in msg
    assert "step 'h' field 'params.held_time': expected a time \"HH:MM\", got 1300" in msg
    assert "step 'i' field 'params.held_day': expected an integer, got 'Thursday'" in msg


def test_a_workshop_before_its_invitation_is_refused() -> None:
    err = problems_of(toml(
        group("early-day", week=6, extra="day = 3", params="held_week = 6\nheld_day = 2"),
        group("early-week", week=6, params="held_week = 5"),
        group("early-hour", week=6, extra='day = 3\ntime = "14:00"', params='held_day = 3\nheld_time = "13:00"'),
        group("same-moment", week=6, extra='day = 3\ntime = "13:00"', params="held_day = 3"),
        group("same-day-legacy", extra='time = "14:00"', params="held_days_after = 0"),
    ))
    msg = str(err)
    assert msg.startswith("5 problems in test.toml")
    assert ("step 'early-day' field 'params.held_day': the workshop (week 6 day 2 13:00) must start after "
            "its invitation is sent (week 6 day 3 09:00)") in msg
    assert "step 'early-week' field 'params.held_week': the workshop (week 5 day 3 13:00) must start after" in msg
    assert "step 'early-hour' field 'params.held_time': the workshop (week 6 day 3 13:00)" in msg
    assert "step 'same-moment' field 'params.held_day': the workshop (week 6 day 3 13:00)" in msg
    assert "step 'same-day-legacy' field 'params.held_days_after': the workshop (week 0 day 0 13:00)" in msg


def test_location_placeholder_only_in_group_meetings() -> None:
    err = problems_of(toml(step("a", text="See you at {location}.")))
    assert ("step 'a' field 'text': placeholder {location} cannot be used here: "
            "only group_meeting steps have it") in str(err)
    assert "location" in allowed_placeholders("group_meeting", "coordinators")


def test_default_workshops_have_real_times_and_places(default: Programme) -> None:
    starts = {s.id: s.event_at(JAN_2027, LONDON) for s in default.steps_for("group_meeting")}
    assert starts == {
        "launch-workshop": datetime(2027, 1, 14, 13, 0, tzinfo=LONDON),
        "group-meeting-2": datetime(2027, 2, 25, 13, 0, tzinfo=LONDON),
        "celebration": datetime(2027, 5, 6, 14, 0, tzinfo=LONDON),
    }
    # Clocks go forward on Sunday 28 March 2027: the celebration stays at 14:00 local, 13:00 UTC.
    assert starts["group-meeting-2"].astimezone(timezone.utc) == datetime(2027, 2, 25, 13, 0, tzinfo=timezone.utc)
    assert starts["celebration"].astimezone(timezone.utc) == datetime(2027, 5, 6, 13, 0, tzinfo=timezone.utc)
    assert {s.id: s.event_minutes for s in default.steps_for("group_meeting")} == {
        "launch-workshop": 180, "group-meeting-2": 120, "celebration": 150,
    }
    for s in default.steps_for("group_meeting"):
        assert s.params["location"].startswith("Education Centre, ")
        assert s.event_at(JAN_2027, LONDON) > s.due_at(JAN_2027, LONDON)
    assert default.step("buddy-meeting-1").event_at(JAN_2027, LONDON) is None
    assert default.step("buddy-meeting-1").event_minutes is None
    assert "half an hour" not in default.step("buddy-meeting-1").text


def test_snapshots_stored_before_workshop_times_still_load(default: Programme) -> None:
    old = default.to_dict()
    for s in old["steps"]:
        if s["intent"] == "group_meeting":  # what an older Pairbot stored
            s["params"] = {"title": s["params"]["title"], "held_days_after": 3}
    launch = next(s for s in old["steps"] if s["id"] == "launch-workshop")
    launch["time"], launch["params"]["held_days_after"] = "14:00", 0  # the old flow allowed "right away"
    loaded = Programme.from_dict(json.loads(json.dumps(old)))
    gm2 = loaded.step("group-meeting-2")
    assert gm2.event_at(JAN_2027, LONDON) == datetime(2027, 2, 25, 13, 0, tzinfo=LONDON)  # Mon 22 Feb + 3 days
    assert loaded.step("launch-workshop").event_at(JAN_2027, LONDON) == datetime(2027, 1, 11, 13, 0, tzinfo=LONDON)
    again = Programme.from_dict(loaded.to_dict())
    assert again == loaded and "held_days_after" not in again.step("celebration").params
    # The same "right away" workshop in a file is refused: a file can still be fixed.
    err = problems_of(toml(group(extra='time = "14:00"', params="held_days_after = 0")))
    assert "step 'launch' field 'params.held_days_after'" in str(err)


def test_programme_show_prints_each_workshop_date_time_and_place() -> None:
    from click.testing import CliRunner

    from adapters.cli import main

    result = CliRunner().invoke(main, ["programme", "show", "--start", "2027-01-11"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[lines.index("Group meetings:") + 1:] == [
        "  Launch workshop: Thu 14 Jan 2027, 13:00-16:00, Education Centre, Seminar Room 2",
        "  Group meeting 2: Thu 25 Feb 2027, 13:00-15:00, Education Centre, Seminar Room 2",
        "  Celebration and project presentations: Thu 6 May 2027, 14:00-16:30, Education Centre, Lecture Theatre",
    ]


def test_a_late_invitation_names_the_programme_workshop_time(sqlite_url) -> None:
    from harness import START as HARNESS_START, make_harness

    h = make_harness(sqlite_url)
    launch = default_programme().step("launch-workshop")
    # The timeline was down: the invitation goes out two days late, in the evening.
    h.clock.set(launch.due_at(HARNESS_START, LONDON) + timedelta(days=2, hours=9))
    assert h.run_step("launch-workshop") == 2
    invite = h.last("asha").text
    assert "Launch workshop: Thu 7 Jan, 13:00, Education Centre, Seminar Room 2." in invite
    assert "our launch workshop is on Thu 7 Jan, 13:00" in invite


# --------------------------------------------------------------------------- #
# Bank holidays
# --------------------------------------------------------------------------- #


def test_programme_show_for_a_cohort_starting_11_january_2027_moves_what_falls_on_bank_holidays() -> None:
    from click.testing import CliRunner

    from adapters.cli import main

    result = CliRunner().invoke(main, ["programme", "show", "--start", "2027-01-11"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Bank holidays in England are kept clear: what falls on one goes on the next working day." in lines
    # Week 16 day 0 is Mon 3 May 2027, the early May bank holiday: the celebration's invitation goes
    # on Tuesday; the celebration itself is on the Thursday, a working day, and stays there.
    invitation = next(i for i, line in enumerate(lines) if "week 16  group_meeting" in line)
    assert lines[invitation].startswith("Tue  4 May 2027 09:00  week 16  group_meeting")
    assert lines[invitation + 1].strip() == "(moved from Mon 3 May: Early May bank holiday)"
    assert "  Celebration and project presentations: Thu 6 May 2027, 14:00-16:30, Education Centre, " \
           "Lecture Theatre" in lines
    # Enrolment (week -2) falls on Boxing Day's substitute day, Mon 28 Dec 2026.
    enrol = next(i for i, line in enumerate(lines) if "week -2  enrol" in line)
    assert lines[enrol].startswith("Tue 29 Dec 2026 09:00")
    assert lines[enrol + 1].strip() == "(moved from Mon 28 Dec: Boxing Day (substitute day))"
    assert sum("(moved from" in line for line in lines) == 2


def test_programme_show_follows_the_nation_asked_for() -> None:
    from click.testing import CliRunner

    from adapters.cli import main

    # Mon 4 Jan 2027 is a bank holiday in Scotland only (2 January's substitute day).
    scotland = CliRunner().invoke(main, ["programme", "show", "--start", "2027-01-04", "--nation", "scotland"])
    assert scotland.exit_code == 0, scotland.output
    assert "Tue  5 Jan 2027 09:00  week  0  group_meeting" in scotland.output
    assert "(moved from Mon 4 Jan: New Year Holiday (substitute day))" in scotland.output
    england = CliRunner().invoke(main, ["programme", "show", "--start", "2027-01-04"])
    assert "Mon  4 Jan 2027 09:00  week  0  group_meeting" in england.output
    wrong = CliRunner().invoke(main, ["programme", "show", "--nation", "Ireland"])
    assert wrong.exit_code == 2 and "'Ireland' is not a UK nation" in wrong.output


def test_a_step_on_a_bank_holiday_goes_on_the_next_working_day_at_the_same_time(default: Programme) -> None:
    # A cohort starting Mon 4 Jan 2027: buddy meeting 4 (week 12) falls on Easter Monday, 29 March.
    start = date(2027, 1, 4)
    dated = {d.step.id: d for d in default.dated(start, LONDON, "England")}
    assert dated["buddy-meeting-4"].due == datetime(2027, 3, 30, 9, 30, tzinfo=LONDON)
    assert dated["buddy-meeting-4"].note == "moved from Mon 29 Mar: Easter Monday"
    assert dated["project-progress"].due == datetime(2027, 3, 30, 12, 30, tzinfo=LONDON)  # its own day
    assert dated["project-progress"].note == ""
    # Easter Monday is a working day in Scotland; without a nation nothing moves.
    assert dict((s.id, d) for d, s in default.timeline(start, LONDON, "Scotland"))["buddy-meeting-4"] == \
        datetime(2027, 3, 29, 9, 30, tzinfo=LONDON)
    assert default.timeline(start, LONDON) == [(step_due_at(s, start, LONDON), s) for d, s in
                                               default.timeline(start, LONDON)]
    assert dict((s.id, d) for d, s in default.timeline(start, LONDON))["buddy-meeting-4"] == \
        datetime(2027, 3, 29, 9, 30, tzinfo=LONDON)


def test_a_workshop_on_a_bank_holiday_goes_on_the_next_working_day() -> None:
    from bot.programme import group_meeting_start

    # Held week 10 day 4 of a cohort starting Mon 11 Jan 2027: Good Friday, 26 March.
    p = parse_programme(toml(group(week=10, params="held_week = 10\nheld_day = 4")), "t.toml")
    launch = p.step("launch")
    assert launch.event_at(JAN_2027, LONDON) == datetime(2027, 3, 26, 13, 0, tzinfo=LONDON)
    # England: the weekend and Easter Monday follow, so Tuesday; Scotland works on Easter Monday.
    assert launch.event_at(JAN_2027, LONDON, "England") == datetime(2027, 3, 30, 13, 0, tzinfo=LONDON)
    assert group_meeting_start(launch.params, JAN_2027, LONDON, "Scotland") == \
        datetime(2027, 3, 29, 13, 0, tzinfo=LONDON)
    out = render_timeline(p, JAN_2027, LONDON, nation="England")
    assert "  Launch: Tue 30 Mar 2027, 13:00-15:00, place not set (moved from Fri 26 Mar: Good Friday)" in out


def test_an_invitation_never_moves_past_its_workshop() -> None:
    # Invitation on Good Friday 09:00 (week 10 day 4), workshop the Tuesday after Easter at 08:30:
    # going forward would invite people after the event, so it goes on the Thursday before.
    p = parse_programme(toml(group(week=10, extra="day = 4", params='held_week = 11\nheld_day = 1\n'
                                                                   'held_time = "08:30"')), "t.toml")
    (dated,) = p.dated(JAN_2027, LONDON, "England")
    assert dated.due == datetime(2027, 3, 25, 9, 0, tzinfo=LONDON)
    assert dated.note == "moved from Fri 26 Mar: Good Friday"
    assert dated.due < p.step("launch").event_at(JAN_2027, LONDON, "England")
