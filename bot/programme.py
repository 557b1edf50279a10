"""Programme files: the timeline of a paired learning programme.

A programme is a TOML file (read with the standard library's ``tomllib``)::

    [programme]
    name = "Four-month paired learning"
    description = "..."            # optional
    meetings_target = 4            # optional; default: number of propose_meeting steps
    group_meetings_target = 3      # optional; default: number of group_meeting steps

    [[steps]]
    id = "pairs-announced"         # unique; lowercase letters, digits and dashes
    week = -1                      # weeks from the cohort start, -8..60
    day = 0                        # optional, 0 = the start weekday .. 6; default 0
    time = "09:30"                 # optional local time HH:MM; default "09:00"
    intent = "pair_intro"          # one of INTENTS
    audience = "pair"              # one of ALLOWED_AUDIENCES[intent]
    text = "Meet your learning pair: {buddy_names}."
    [steps.params]                 # optional, intent-specific (see PARAMS)

Every step becomes one message intent sent at ``start + week*7 + day`` days, at
``time`` in the cohort's time zone. A group_meeting step is the invitation; the
workshop itself is at ``held_week``/``held_day``/``held_time`` of the programme,
never "when the invitation happened to run". Given a UK nation, a step or a
workshop that falls on one of its bank holidays goes on the next working day, at
the same time (an invitation that would then come after its workshop goes on the
working day before instead).

The file is checked with pydantic models (strict types, unknown keys refused);
loading collects every problem and raises one :class:`ProgrammeError` whose lines
name the file, the step and the field. This module is pure: no platform SDK,
scheduler or database imports. A cohort keeps a JSON snapshot of its programme
(:meth:`Programme.to_dict`), so later edits of the file never change a running cohort.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import string
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Annotated, Any, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainValidator, ValidationError, field_validator

from bot.bank_holidays import holiday_name, next_working_day, previous_working_day

__all__ = [
    "ALLOWED_AUDIENCES", "AUDIENCES", "DEFAULT_TIME", "INTENTS", "PARAMS", "PLACEHOLDERS",
    "SHADOWING_DIRECTIONS", "SURVEY_INTENTS", "Params", "Programme", "ProgrammeError", "Step",
    "DatedStep", "Moved", "allowed_placeholders", "default_programme", "group_meeting_start", "load_programme",
    "off_bank_holidays", "parse_programme", "render_timeline", "step_due_at",
]

SNAPSHOT_FORMAT = 1

INTENTS: tuple[str, ...] = (
    "enrol", "pair_intro", "pre_survey", "group_meeting", "propose_meeting", "contract",
    "fit_check", "propose_shadowing", "pulse", "project", "reflect", "post_survey", "follow_up",
)

SURVEY_INTENTS: frozenset[str] = frozenset(
    {"pre_survey", "post_survey", "pulse", "fit_check", "follow_up"}
)

AUDIENCES: tuple[str, ...] = (
    "pair",  # one shared conversation with all members of the pair or group
    "each_member",  # a direct message to every member of every pair
    "clinicians",  # a direct message to the clinician members only
    "managers",  # a direct message to the manager members only
    "coordinators",  # the cohort's coordinators
    "facilitators",  # the cohort's facilitators
)

_MEMBERS = ("each_member", "clinicians", "managers")

#: Which audiences each intent may be sent to. Pair activities (introductions,
#: meetings, shadowing, the contract) go to the pair's shared conversation;
#: surveys and reflections are private, so they go to members one by one.
ALLOWED_AUDIENCES: Mapping[str, tuple[str, ...]] = {
    "enrol": _MEMBERS,
    "pair_intro": ("pair",),
    "pre_survey": _MEMBERS,
    "group_meeting": (*_MEMBERS, "coordinators", "facilitators"),
    "propose_meeting": ("pair",),
    "contract": ("pair",),
    "fit_check": _MEMBERS,
    "propose_shadowing": ("pair",),
    "pulse": _MEMBERS,
    "project": ("pair", *_MEMBERS),
    "reflect": _MEMBERS,
    "post_survey": _MEMBERS,
    "follow_up": _MEMBERS,
}

SHADOWING_DIRECTIONS: tuple[str, ...] = (
    "manager_shadows_clinician",
    "clinician_shadows_manager",
)

#: Placeholders a step's text may use; the conversation core fills them with
#: ``str.format_map``. Use :func:`allowed_placeholders` for the rules per step.
PLACEHOLDERS: Mapping[str, str] = {
    "first_name": "the recipient's first name (not in pair messages, which several people read)",
    "buddy_names": "the other member(s) of the recipient's pair; in a pair message, all members",
    "cohort": "the cohort's name",
    "week": "the step's week number",
    "title": "the group meeting's title (group_meeting steps only)",
    "held_at": "when the group meeting is held, as local date and time (group_meeting steps only)",
    "location": "where the group meeting is held (group_meeting steps only)",
}
_GROUP_MEETING_PLACEHOLDERS = ("title", "held_at", "location")

DEFAULT_TIME = dtime(9, 0)
DEFAULT_HELD_TIME = "13:00"
DEFAULT_HELD_DAYS_LATER = 3  # a workshop's default day: three days after its invitation
DEFAULT_DURATION_MINUTES = 120
MAX_TEXT = 1500
MAX_SHORT_TEXT = 200

_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")
_SURVEY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_TOML_POS_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_EOF_RE = re.compile(r"\s*\(at end of document\)\s*$")


# --- Field types: each check raises ValueError with the sentence a reader sees ---


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, datetime):
        return f"a date-time ({value.isoformat()})"
    if isinstance(value, date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, dtime):
        return f"a TOML time ({value.isoformat()})"
    return "nothing" if value is None else type(value).__name__


def _between(lo: int, hi: int) -> Any:
    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"{value} is out of range (expected {lo}..{hi})")
        return value

    return Annotated[int, AfterValidator(check)]


def _text(limit: int, *, blank: bool = False) -> Any:
    def check(value: str) -> str:
        if not blank and not value.strip():
            raise ValueError("must not be empty")
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long (at most {limit})")
        return value

    return Annotated[str, AfterValidator(check)]


def _one_of(choices: tuple[str, ...], *, hint: bool = False) -> Any:
    def check(value: str) -> str:
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1) if hint else []
            also = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}{also}")
        return value

    return Annotated[str, AfterValidator(check)]


def _step_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid id (use lowercase letters, digits and dashes, "
            "starting with a letter or digit, at most 63 characters)"
        )
    return value


def _survey_id(value: str) -> str:
    if not _SURVEY_ID_RE.match(value):
        raise ValueError(f"{value!r} is not a survey id (lowercase letters, digits, '_' and '-')")
    return value


def _local_time(value: Any) -> dtime:
    """A time "HH:MM", or a TOML local time such as 09:30:00."""
    if isinstance(value, dtime):
        if value.tzinfo is not None or value.second or value.microsecond:
            raise ValueError(f"expected a local time HH:MM, got {_describe(value)}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a time \"HH:MM\", got {_describe(value)}")
    m = _TIME_RE.match(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a time (expected HH:MM, e.g. '09:30')")
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 23:
        raise ValueError(f"{value!r} is not a valid time: the hour must be 00..23")
    if minute > 59:
        raise ValueError(f"{value!r} is not a valid time: the minutes must be 00..59")
    return dtime(hour, minute)


Week = _between(-8, 60)
Day = _between(0, 6)
Target = Optional[_between(0, 52)]
LocalTime = Annotated[dtime, PlainValidator(_local_time)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- The file's tables ---


class _Head(_Strict):
    """The [programme] table."""

    name: _text(MAX_SHORT_TEXT)
    description: str = ""
    meetings_target: Target = None
    group_meetings_target: Target = None


class _StepFields(_Strict):
    """One [[steps]] table; params are checked by PARAMS[intent], the text by _text_problems."""

    id: Annotated[str, AfterValidator(_step_id)]
    week: Week
    day: Day = 0
    time: LocalTime = DEFAULT_TIME
    intent: _one_of(INTENTS, hint=True)
    audience: _one_of(AUDIENCES)
    text: _text(MAX_TEXT)
    params: dict[str, Any] = {}


class _NoParams(_Strict):
    pass


class _SurveyParams(_Strict):
    survey: Optional[Annotated[str, AfterValidator(_survey_id)]] = None  # default: the intent


class _MeetingParams(_Strict):
    # default: 1 + the number of propose_meeting steps before it
    meeting_number: Optional[_between(1, 99)] = None


class _ShadowingParams(_Strict):
    direction: _one_of(SHADOWING_DIRECTIONS)


class _GroupMeetingParams(_Strict):
    title: _text(MAX_SHORT_TEXT)
    held_week: Optional[Week] = None  # default: the invitation's week
    held_day: Optional[Day] = None  # default: the invitation's day + 3, carried into the next week
    held_time: LocalTime = _local_time(DEFAULT_HELD_TIME)
    duration_minutes: _between(15, 600) = DEFAULT_DURATION_MINUTES
    location: _text(MAX_SHORT_TEXT, blank=True) = ""
    # Older files and snapshots: days after the invitation's due date.
    held_days_after: Optional[_between(0, 28)] = None

    @field_validator("held_days_after")
    @classmethod
    def _not_both(cls, value: int | None, info) -> int | None:
        if value is not None and (info.data.get("held_week") is not None or info.data.get("held_day") is not None):
            raise ValueError("give held_week and held_day, or the older held_days_after, not both")
        return value


#: The parameters each intent accepts (``[steps.params]``), as a pydantic model.
PARAMS: Mapping[str, type[_Strict]] = {
    "enrol": _NoParams,
    "pair_intro": _NoParams,
    "pre_survey": _SurveyParams,
    "group_meeting": _GroupMeetingParams,
    "propose_meeting": _MeetingParams,
    "contract": _NoParams,
    "fit_check": _SurveyParams,
    "propose_shadowing": _ShadowingParams,
    "pulse": _SurveyParams,
    "project": _NoParams,
    "reflect": _NoParams,
    "post_survey": _SurveyParams,
    "follow_up": _SurveyParams,
}
_REQUIRED_CHOICES = {"direction": SHADOWING_DIRECTIONS}


def allowed_placeholders(intent: str, audience: str) -> frozenset[str]:
    """The placeholders a step with this intent and audience may use in its text.

    ``{first_name}`` is not allowed in pair messages (several people read them),
    ``{buddy_names}`` not in messages to coordinators or facilitators (who have no
    buddy), ``{title}``, ``{held_at}`` and ``{location}`` only in group_meeting steps.
    """
    names = {"cohort", "week"}
    if audience != "pair":
        names.add("first_name")
    if audience in ("pair", *_MEMBERS):
        names.add("buddy_names")
    if intent == "group_meeting":
        names.update(_GROUP_MEETING_PLACEHOLDERS)
    return frozenset(names)


# --- Values ---


class Params(Mapping[str, Any]):
    """A read-only, hashable mapping of a step's parameters (str and int values)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None, /) -> None:
        self._data: dict[str, Any] = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"Params({self._data!r})"


@dataclass(frozen=True)
class Step:
    """One step of a programme: a message intent due at a week/day/time offset."""

    id: str
    week: int
    day: int
    time: dtime
    intent: str
    audience: str
    text: str
    params: Params = field(default_factory=Params)

    def __post_init__(self) -> None:
        if not isinstance(self.params, Params):
            object.__setattr__(self, "params", Params(self.params))

    @property
    def offset_days(self) -> int:
        """Days from the cohort start to the day this step is due."""
        return self.week * 7 + self.day

    @property
    def placeholders(self) -> frozenset[str]:
        """The placeholder names this step's text uses."""
        return frozenset(
            name for _, name, _, _ in string.Formatter().parse(self.text) if name is not None
        )

    def due_at(self, start: date, tz: ZoneInfo | str) -> datetime:
        return step_due_at(self, start, tz)

    def event_at(self, start: date, tz: ZoneInfo | str, nation: str | None = None) -> datetime | None:
        """When the workshop this group_meeting step invites to starts (aware, local to ``tz``),
        off ``nation``'s bank holidays if one is given."""
        if self.intent != "group_meeting":
            return None
        return group_meeting_start(_workshop(self.week, self.day, self.params), start, tz, nation)

    @property
    def event_minutes(self) -> int | None:
        """How long the workshop lasts, for group_meeting steps."""
        if self.intent != "group_meeting":
            return None
        return int(self.params.get("duration_minutes", DEFAULT_DURATION_MINUTES))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "week": self.week,
            "day": self.day,
            "time": self.time.strftime("%H:%M"),
            "intent": self.intent,
            "audience": self.audience,
            "text": self.text,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class Programme:
    """A validated programme; ``steps`` are sorted by (week, day, time, file order)."""

    name: str
    description: str
    meetings_target: int
    group_meetings_target: int
    steps: tuple[Step, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.steps, tuple):
            object.__setattr__(self, "steps", tuple(self.steps))

    def step(self, step_id: str) -> Step:
        """The step with this id (KeyError if there is none)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def steps_for(self, intent: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.intent == intent)

    def timeline(self, start: date, tz: ZoneInfo | str, nation: str | None = None) -> list[tuple[datetime, Step]]:
        """Every step with its aware due time in ``tz``, in order; with ``nation``, steps that fall
        on its bank holidays go on the next working day."""
        return [(dated.due, dated.step) for dated in self.dated(start, tz, nation)]

    def dated(self, start: date, tz: ZoneInfo | str, nation: str | None = None) -> list[DatedStep]:
        """:meth:`timeline` with what moved off a bank holiday, and from which day."""
        zone = _zone(tz)
        # Asked by every daily sweep and survey answer; a Programme is frozen, so its dates for a
        # start, zone and nation are worked out once (kept on the instance, a few per programme).
        cache = self.__dict__.setdefault("_dated", {})
        key = (start, zone.key, nation)
        found = cache.get(key)
        if found is None:
            found = []
            for step in self.steps:
                moved = off_bank_holidays(step_due_at(step, start, zone), nation)
                workshop = step.event_at(start, zone, nation)
                if workshop is not None and moved.moved_from is not None and moved.at >= workshop:
                    # Going forward would invite people after the event: go the working day before.
                    earlier = previous_working_day(moved.moved_from, nation)
                    moved = Moved(datetime.combine(earlier, moved.at.time(), tzinfo=zone), moved.moved_from,
                                  moved.holiday)
                found.append(DatedStep(moved.at, step, moved.moved_from, moved.holiday))
            found.sort(key=lambda dated: dated.due)  # stable: ties keep programme order
            if len(cache) > 16:
                cache.clear()
            cache[key] = found
        return list(found)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe snapshot; :meth:`from_dict` reads it back to an equal Programme."""
        return {
            "format": SNAPSHOT_FORMAT,
            "source": self.source,
            "programme": {
                "name": self.name,
                "description": self.description,
                "meetings_target": self.meetings_target,
                "group_meetings_target": self.group_meetings_target,
            },
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Programme:
        """Read a snapshot made by :meth:`to_dict`, also by an older Pairbot (validated like a file)."""
        if not isinstance(d, Mapping):
            raise ProgrammeError("snapshot", [f"snapshot: expected a mapping, got {_describe(d)}"])
        try:
            text = json.dumps(d, sort_keys=True)
        except (TypeError, ValueError):
            return _from_snapshot(d)
        # Every event and step reads its cohort's snapshot; validating it each time was a tenth of
        # a whole-cohort run. Programmes are frozen, so one validated copy per snapshot is shared.
        return _snapshot_from_text(text)


@functools.lru_cache(maxsize=64)
def _snapshot_from_text(text: str) -> Programme:
    return _from_snapshot(json.loads(text))


def _from_snapshot(d: Mapping[str, Any]) -> Programme:
    data = dict(d)
    fmt = data.pop("format", SNAPSHOT_FORMAT)
    source = data.pop("source", None)
    if not isinstance(source, str) or not source:
        source = "snapshot"
    if fmt != SNAPSHOT_FORMAT:
        raise ProgrammeError(
            source, [f"{source}: snapshot format {fmt!r} is not supported (expected {SNAPSHOT_FORMAT})"]
        )
    return _build(data, source, snapshot=True)


class ProgrammeError(Exception):
    """A programme file (or snapshot) is invalid. ``problems`` holds one sentence each."""

    def __init__(self, source: str, problems: list[str] | tuple[str, ...]) -> None:
        self.source = source
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {self.source}"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


# --- Loading ---


def load_programme(path: str | PathLike[str]) -> Programme:
    """Read and validate a programme file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProgrammeError(source, [f"{source}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgrammeError(source, [f"{source}: cannot read the file: {exc}"]) from None
    return parse_programme(text, source)


def parse_programme(text: str, source: str) -> Programme:
    """Parse and validate programme TOML text; ``source`` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgrammeError(source, [_toml_problem(source, exc)]) from None
    return _build(data, source)


def default_programme() -> Programme:
    """The packaged default four-month programme (bot/programmes/default.toml)."""
    text = resources.files("bot").joinpath("programmes", "default.toml").read_text(encoding="utf-8")
    return parse_programme(text, "default.toml")


def _toml_problem(source: str, exc: tomllib.TOMLDecodeError) -> str:
    msg = str(exc)
    m = _TOML_POS_RE.search(msg)
    if m:
        return f"{source}: line {m.group(1)}, column {m.group(2)}: TOML syntax error: {msg[: m.start()]}"
    m = _TOML_EOF_RE.search(msg)
    if m:
        return f"{source}: at the end of the file: TOML syntax error: {msg[: m.start()]}"
    return f"{source}: TOML syntax error: {msg}"


class _Problems:
    """Problems as sentences: "<file>: <where> field '<field>': <what is wrong>"."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str | None, fld: str | None, message: str) -> None:
        place = f"{where} field '{fld}'" if where and fld else where or (fld and f"field '{fld}'")
        self.items.append(": ".join(p for p in (self.source, place, message) if p))

    def add_errors(self, where: str, exc: ValidationError, model: type[BaseModel], *,
                   prefix: str = "", intent: str = "") -> set[str]:
        """Map pydantic's errors to sentences; returns the fields that failed."""
        failed: set[str] = set()
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            failed.add(str(error["loc"][0]) if error["loc"] else "")
            self.add(where, prefix + name, _explain(error, model, prefix, intent))
        return failed


_EXPECTED = {"int_type": "an integer", "string_type": "a string", "dict_type": "a table"}


def _explain(error: Mapping[str, Any], model: type[BaseModel], prefix: str, intent: str) -> str:
    kind, given, name = error["type"], error.get("input"), str(error["loc"][-1]) if error["loc"] else ""
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_describe(given)}"
    if kind == "missing" and prefix:
        choices = _REQUIRED_CHOICES.get(name)
        return f"missing required parameter for {intent}" + (f" (one of {', '.join(choices)})" if choices else "")
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        allowed = list(model.model_fields)
        if prefix and not allowed:
            return f"unknown parameter: {intent} takes no parameters"
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        what = f"parameter for {intent}" if prefix else "field"
        return f"unknown {what}{hint} (allowed: {', '.join(allowed)})"
    return str(error["msg"])


def _build(data: Mapping[str, Any], source: str, *, snapshot: bool = False) -> Programme:
    problems = _Problems(source)
    for key in data:
        if key not in ("programme", "steps"):
            close = difflib.get_close_matches(key, ("programme", "steps"), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.add(None, None, f"unknown top-level table or key '{key}'{hint} (allowed: [programme], [[steps]])")

    head = None
    raw_head = data.get("programme")
    if raw_head is None:
        problems.add(None, None, "missing the [programme] table (with at least name = \"...\")")
    elif not isinstance(raw_head, Mapping):
        problems.add(None, "programme", f"expected a table, got {_describe(raw_head)}")
    else:
        try:
            head = _Head.model_validate(dict(raw_head))
        except ValidationError as exc:
            problems.add_errors("[programme]", exc, _Head)

    raw_steps = data.get("steps")
    if raw_steps is not None and not isinstance(raw_steps, list):
        problems.add(None, "steps", f"expected an array of tables [[steps]], got {_describe(raw_steps)}")
    elif not raw_steps:
        problems.add(None, None, "the programme has no steps (add [[steps]] tables)")
    built: list[tuple[int, Step]] = []
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        step = _build_step(problems, raw, index + 1, first_seen, snapshot)
        if step is not None:
            built.append((index, step))
    if problems.items:
        raise ProgrammeError(source, problems.items)
    assert head is not None

    built.sort(key=lambda pair: (pair[1].week, pair[1].day, pair[1].time, pair[0]))
    steps: list[Step] = []
    for _, step in built:
        if step.intent == "propose_meeting" and "meeting_number" not in step.params:
            number = 1 + sum(1 for s in steps if s.intent == "propose_meeting")
            step = Step(step.id, step.week, step.day, step.time, step.intent, step.audience, step.text,
                        Params({**step.params, "meeting_number": number}))
        steps.append(step)
    return Programme(
        name=head.name,
        description=head.description,
        meetings_target=_count(head.meetings_target, steps, "propose_meeting"),
        group_meetings_target=_count(head.group_meetings_target, steps, "group_meeting"),
        steps=tuple(steps),
        source=source,
    )


def _count(target: int | None, steps: list[Step], intent: str) -> int:
    return target if target is not None else sum(1 for s in steps if s.intent == intent)


def _build_step(
    problems: _Problems, raw: Any, position: int, first_seen: dict[str, int], snapshot: bool
) -> Step | None:
    where = f"step {position}"
    if not isinstance(raw, Mapping):
        problems.add(where, None, f"expected a table, got {_describe(raw)}")
        return None
    before = len(problems.items)

    # Name the step by its id when the id is usable, else by its position.
    step_id = raw.get("id")
    if isinstance(step_id, str) and _ID_RE.match(step_id):
        if step_id in first_seen:
            where = f"step {position} (id '{step_id}')"
            problems.add(where, "id", f"duplicate id '{step_id}': step {first_seen[step_id]} already uses it")
        else:
            where = f"step '{step_id}'"
            first_seen[step_id] = position

    fields: _StepFields | None = None
    failed: set[str] = set()
    try:
        fields = _StepFields.model_validate(dict(raw))
    except ValidationError as exc:
        failed = problems.add_errors(where, exc, _StepFields)

    # Checks across fields, on the fields that are sound by themselves.
    intent = raw["intent"] if "intent" not in failed else None
    audience = raw["audience"] if "audience" not in failed else None
    if intent and audience and audience not in ALLOWED_AUDIENCES[intent]:
        allowed = ", ".join(ALLOWED_AUDIENCES[intent])
        problems.add(where, "audience", f"{intent} steps cannot go to {audience!r} (allowed: {allowed})")
        audience = None
    if "text" not in failed:
        for message in _text_problems(raw["text"], intent, audience):
            problems.add(where, "text", message)
    params: dict[str, Any] = {}
    if intent and "params" not in failed:
        model = PARAMS[intent]
        try:
            checked = model.model_validate(dict(raw.get("params", {})))
            params = checked.model_dump(exclude_none=True)
        except ValidationError as exc:
            problems.add_errors(where, exc, model, prefix="params.", intent=intent)

    if len(problems.items) > before or fields is None:
        return None
    if intent in SURVEY_INTENTS:
        params.setdefault("survey", intent)
    if intent == "group_meeting":
        params = _workshop(fields.week, fields.day, params)
        invited = (fields.week * 7 + fields.day, fields.time)
        held = (params["held_week"] * 7 + params["held_day"], _local_time(params["held_time"]))
        # Files only: a running cohort's snapshot keeps loading even where an older Pairbot
        # allowed a workshop "right away" (held_days_after = 0).
        if held <= invited and not snapshot:
            given = [k for k in ("held_day", "held_week", "held_days_after") if k in raw.get("params", {})]
            if (held[0] == invited[0] and "held_time" in raw.get("params", {})) or not given:
                given = ["held_time"]
            problems.add(where, f"params.{given[0]}",
                         f"the workshop (week {params['held_week']} day {params['held_day']} {params['held_time']}) "
                         f"must start after its invitation is sent (week {fields.week} day {fields.day} "
                         f"{fields.time:%H:%M})")
            return None
    return Step(fields.id, fields.week, fields.day, fields.time, fields.intent, fields.audience,
                fields.text, Params(params))


def _workshop(week: int, day: int, params: Mapping[str, Any]) -> dict[str, Any]:
    """A group meeting's params with its own week, day and time resolved (and held_days_after gone)."""
    out = dict(params)
    days_after = out.pop("held_days_after", None)
    if days_after is not None and "held_week" not in out and "held_day" not in out:
        offset = week * 7 + day + days_after
    else:
        offset = out.get("held_week", week) * 7 + out.get("held_day", day + DEFAULT_HELD_DAYS_LATER)
    out["held_week"], out["held_day"] = divmod(offset, 7)
    time = out.get("held_time", DEFAULT_HELD_TIME)
    out["held_time"] = time.strftime("%H:%M") if isinstance(time, dtime) else time
    out.setdefault("duration_minutes", DEFAULT_DURATION_MINUTES)
    out.setdefault("location", "")
    return out


def _text_problems(text: str, intent: str | None, audience: str | None) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"broken braces {_brace_problem(text) or f'({exc})'}; write {{{{ and }}}} for literal braces"]
    allowed = allowed_placeholders(intent, audience) if intent and audience else frozenset(PLACEHOLDERS)
    found: list[str] = []
    seen: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None or name in seen:
            continue
        seen.add(name)
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            found.append(f"unknown placeholder {{{name}}} (known: {known})")
        elif name not in allowed:
            if name in _GROUP_MEETING_PLACEHOLDERS:
                why = "only group_meeting steps have it"
            elif name == "first_name":
                why = "pair messages are read by several people; use {buddy_names}"
            else:
                why = f"messages to {audience} have no buddy"
            found.append(f"placeholder {{{name}}} cannot be used here: {why}")
        elif spec or conversion:
            found.append(f"placeholder {{{name}}} must be written plainly, without ':' or '!'")
    return found


def _brace_problem(text: str) -> str | None:
    """Describe the first unbalanced brace in ``text``, quoting the text around it."""
    i = 0
    while i < len(text):
        if text[i : i + 2] in ("{{", "}}"):
            i += 2
        elif text[i] == "{":
            end, nested = text.find("}", i), text.find("{", i + 1)
            if end == -1 or -1 < nested < end:
                stop = min(p for p in (end, nested, len(text)) if p != -1)
                return f"in {text[i:stop].rstrip()[:30]!r}: this '{{' is never closed"
            i = end + 1
        elif text[i] == "}":
            return f"in {text[max(0, i - 29) : i + 1].lstrip()!r}: this '}}' has no opening '{{'"
        else:
            i += 1
    return None


# --- Timeline ---


def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r} (expected an IANA name such as 'Europe/London')") from None


def _local(start: date, days: int, at: dtime, tz: ZoneInfo | str) -> datetime:
    # The wall-clock time is kept whatever the UTC offset on that date (09:00 stays 09:00 across a
    # daylight-saving change); convert with .astimezone(timezone.utc) for storage.
    if isinstance(start, datetime):
        start = start.date()
    return datetime.combine(start + timedelta(days=days), at, tzinfo=_zone(tz))


def step_due_at(step: Step, start: date, tz: ZoneInfo | str) -> datetime:
    """When ``step`` is due for a cohort starting on ``start``: ``start + week*7 + day`` days at
    ``step.time``, an aware datetime in ``tz``."""
    return _local(start, step.offset_days, step.time, tz)


def group_meeting_start(params: Mapping[str, Any], start: date, tz: ZoneInfo | str,
                        nation: str | None = None) -> datetime:
    """When the workshop of a loaded group_meeting step (its ``params``) starts, for a cohort
    starting on ``start``: an aware datetime in ``tz``, off ``nation``'s bank holidays if given."""
    return workshop_dated(params, start, tz, nation).at


def workshop_dated(params: Mapping[str, Any], start: date, tz: ZoneInfo | str,
                   nation: str | None = None) -> Moved:
    """:func:`group_meeting_start`, with the day it moved from and why."""
    days = int(params["held_week"]) * 7 + int(params["held_day"])
    return off_bank_holidays(_local(start, days, _local_time(params.get("held_time", DEFAULT_HELD_TIME)), tz),
                             nation)


@dataclass(frozen=True)
class Moved:
    """A programme time, moved off a bank holiday if it fell on one."""

    at: datetime
    moved_from: date | None = None  # the programme's own day, when it moved
    holiday: str = ""  # the bank holiday's name ("Early May bank holiday")

    @property
    def note(self) -> str:
        return _moved_note(self.moved_from, self.holiday)


@dataclass(frozen=True)
class DatedStep:
    """A step with its due time for one cohort, and the day it moved from if a bank holiday moved it."""

    due: datetime
    step: Step
    moved_from: date | None = None
    holiday: str = ""

    @property
    def note(self) -> str:
        return _moved_note(self.moved_from, self.holiday)


def _moved_note(moved_from: date | None, holiday: str) -> str:
    """"moved from Mon 3 May: Early May bank holiday", or "" if it did not move."""
    if moved_from is None:
        return ""
    return f"moved from {moved_from:%a} {moved_from.day} {moved_from:%b}: {holiday}"


def off_bank_holidays(moment: datetime, nation: str | None) -> Moved:
    """``moment`` (aware, local), or the same wall-clock time on the next working day if its day is
    a bank holiday in ``nation``; None: no nation, nothing moves."""
    if nation is None:
        return Moved(moment)
    name = holiday_name(moment.date(), nation)
    if name is None:
        return Moved(moment)
    later = next_working_day(moment.date(), nation)
    return Moved(datetime.combine(later, moment.time(), tzinfo=moment.tzinfo), moment.date(), name)


def _truncate(text: str, width: int) -> str:
    if width <= 3:
        return text[: max(width, 0)]
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _workshop_line(step: Step, start: date, tz: ZoneInfo, nation: str | None) -> str:
    held = workshop_dated(_workshop(step.week, step.day, step.params), start, tz, nation)
    begins = held.at
    assert step.event_minutes is not None
    ends = begins + timedelta(minutes=step.event_minutes)
    place = step.params.get("location") or "place not set"
    moved = f" ({held.note})" if held.note else ""
    return f"{begins:%a} {begins.day} {begins:%b %Y}, {begins:%H:%M}-{ends:%H:%M}, {place}{moved}"


def render_timeline(
    programme: Programme, start: date, tz: ZoneInfo | str, *, width: int = 110, nation: str | None = None
) -> str:
    """A readable table of the programme's steps, dated for a cohort starting on ``start``, then
    each group meeting's date, time and place. With ``nation``, what a bank holiday moved is
    marked with the day it moved from and the holiday."""
    zone = _zone(tz)
    if isinstance(start, datetime):
        start = start.date()
    lines = [
        f"{programme.name} ({programme.source or 'no file'})",
        f"Start {start:%a} {start.day} {start:%b %Y}, times in {zone.key}; {len(programme.steps)} steps, "
        f"{programme.meetings_target} buddy meetings and {programme.group_meetings_target} group meetings expected",
    ]
    if nation is not None:
        lines.append(f"Bank holidays in {nation} are kept clear: what falls on one goes on the next working day.")
    lines += ["", f"{'when':<21}  {'week':<7}  {'intent':<18}  {'audience':<12}  text"]
    for dated in programme.dated(start, zone, nation):
        due, step = dated.due, dated.step
        prefix = (
            f"{due:%a} {due.day:>2} {due:%b %Y %H:%M}  week {step.week:>2}  "
            f"{step.intent:<18}  {step.audience:<12}  "
        )
        text = " ".join(step.text.split())
        if step.intent == "group_meeting":
            held = step.event_at(start, zone, nation)
            text = f"[{step.params.get('title')}, held {held:%a} {held.day} {held:%b %H:%M}] {text}"
        elif step.intent == "propose_shadowing":
            text = f"[{str(step.params.get('direction', '')).replace('_', ' ')}] {text}"
        lines.append(prefix + _truncate(text, width - len(prefix)))
        if dated.note:  # a line of its own, so it is never cut short
            lines.append(_truncate(f"{'':<23}({dated.note})", width))
    workshops = programme.steps_for("group_meeting")
    if workshops:
        lines += ["", "Group meetings:"]
        for step in sorted(workshops, key=lambda s: s.event_at(start, zone, nation)):
            lines.append(_truncate(f"  {step.params.get('title')}: {_workshop_line(step, start, zone, nation)}",
                                   width))
    return "\n".join(lines)
