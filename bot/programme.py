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
``time`` in the cohort's time zone. Loading collects every problem in the file
and raises one :class:`ProgrammeError` that names the file, the step and the field.

This module is pure: no platform SDK, scheduler or database imports. A cohort
keeps a JSON snapshot of its programme (:meth:`Programme.to_dict`), so later
edits of the file never change a running cohort.
"""

from __future__ import annotations

import difflib
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
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ALLOWED_AUDIENCES",
    "AUDIENCES",
    "DEFAULT_TIME",
    "INTENTS",
    "PARAMS",
    "PLACEHOLDERS",
    "SHADOWING_DIRECTIONS",
    "SURVEY_INTENTS",
    "Params",
    "Programme",
    "ProgrammeError",
    "Step",
    "allowed_placeholders",
    "default_programme",
    "load_programme",
    "parse_programme",
    "render_timeline",
    "step_due_at",
]

SNAPSHOT_FORMAT = 1

INTENTS: tuple[str, ...] = (
    "enrol",
    "pair_intro",
    "pre_survey",
    "group_meeting",
    "propose_meeting",
    "contract",
    "fit_check",
    "propose_shadowing",
    "pulse",
    "project",
    "reflect",
    "post_survey",
    "follow_up",
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
}

DEFAULT_TIME = dtime(9, 0)
DEFAULT_HELD_DAYS_AFTER = 7
WEEK_RANGE = (-8, 60)
DAY_RANGE = (0, 6)
TARGET_RANGE = (0, 52)
HELD_DAYS_AFTER_RANGE = (0, 28)
MAX_TEXT = 1500
MAX_SHORT_TEXT = 200

_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")
_SURVEY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_TOML_POS_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_EOF_RE = re.compile(r"\s*\(at end of document\)\s*$")

_STEP_FIELDS = ("id", "week", "day", "time", "intent", "audience", "text", "params")
_PROGRAMME_FIELDS = ("name", "description", "meetings_target", "group_meetings_target")
_TOP_LEVEL = ("programme", "steps")


# --------------------------------------------------------------------------- #
# Parameters per intent
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _ParamSpec:
    kind: str  # "str", "int", "choice", "survey_id"
    required: bool = False
    default: Any = None  # filled in when the parameter is absent (None: stays absent)
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


_SURVEY_PARAMS = {"survey": _ParamSpec("survey_id")}  # default: the intent's name

#: Parameters each intent accepts (``[steps.params]``). Defaults are filled in, so
#: ``step.params`` always holds every parameter that has a default.
PARAMS: Mapping[str, Mapping[str, _ParamSpec]] = {
    "enrol": {},
    "pair_intro": {},
    "pre_survey": _SURVEY_PARAMS,
    "group_meeting": {
        "title": _ParamSpec("str", required=True),
        "held_days_after": _ParamSpec(
            "int",
            default=DEFAULT_HELD_DAYS_AFTER,
            minimum=HELD_DAYS_AFTER_RANGE[0],
            maximum=HELD_DAYS_AFTER_RANGE[1],
        ),
        "location": _ParamSpec("str"),
    },
    # Default meeting_number: 1 + the number of propose_meeting steps before it.
    "propose_meeting": {"meeting_number": _ParamSpec("int", minimum=1, maximum=99)},
    "contract": {},
    "fit_check": _SURVEY_PARAMS,
    "propose_shadowing": {
        "direction": _ParamSpec("choice", required=True, choices=SHADOWING_DIRECTIONS)
    },
    "pulse": _SURVEY_PARAMS,
    "project": {},
    "reflect": {},
    "post_survey": _SURVEY_PARAMS,
    "follow_up": _SURVEY_PARAMS,
}


def allowed_placeholders(intent: str, audience: str) -> frozenset[str]:
    """The placeholders a step with this intent and audience may use in its text.

    ``{first_name}`` is not allowed in pair messages (several people read them),
    ``{buddy_names}`` not in messages to coordinators or facilitators (who have no
    buddy), ``{title}`` and ``{held_at}`` only in group_meeting steps.
    """
    names = {"cohort", "week"}
    if audience != "pair":
        names.add("first_name")
    if audience in ("pair", *_MEMBERS):
        names.add("buddy_names")
    if intent == "group_meeting":
        names.update({"title", "held_at"})
    return frozenset(names)


# --------------------------------------------------------------------------- #
# Values
# --------------------------------------------------------------------------- #


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

    def timeline(self, start: date, tz: ZoneInfo | str) -> list[tuple[datetime, Step]]:
        """Every step with its aware due time in ``tz``, in order."""
        zone = _zone(tz)
        pairs = [(step_due_at(s, start, zone), s) for s in self.steps]
        pairs.sort(key=lambda pair: pair[0])  # stable: ties keep programme order
        return pairs

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
        """Read a snapshot made by :meth:`to_dict` (validated like a file)."""
        if not isinstance(d, Mapping):
            raise ProgrammeError("snapshot", [f"snapshot: expected a mapping, got {_describe(d)}"])
        data = dict(d)
        fmt = data.pop("format", SNAPSHOT_FORMAT)
        source = data.pop("source", None)
        if not isinstance(source, str) or not source:
            source = "snapshot"
        if fmt != SNAPSHOT_FORMAT:
            raise ProgrammeError(
                source, [f"{source}: snapshot format {fmt!r} is not supported (expected {SNAPSHOT_FORMAT})"]
            )
        return _build(data, source)


class ProgrammeError(Exception):
    """A programme file (or snapshot) is invalid. ``problems`` holds one sentence each."""

    def __init__(self, source: str, problems: list[str] | tuple[str, ...]) -> None:
        self.source = source
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {self.source}"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def __str__(self) -> str:
        return self._message()


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


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
        reason = msg[: m.start()]
        return f"{source}: line {m.group(1)}, column {m.group(2)}: TOML syntax error: {reason}"
    m = _TOML_EOF_RE.search(msg)
    if m:
        return f"{source}: at the end of the file: TOML syntax error: {msg[: m.start()]}"
    return f"{source}: TOML syntax error: {msg}"


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str | None, fld: str | None, message: str) -> None:
        parts = [self.source]
        if where and fld:
            parts.append(f"{where} field '{fld}'")
        elif where:
            parts.append(where)
        elif fld:
            parts.append(f"field '{fld}'")
        parts.append(message)
        self.items.append(": ".join(parts))


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, float)):
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
    if value is None:
        return "nothing"
    return type(value).__name__


def _unknown(name: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown field{hint} (allowed: {', '.join(allowed)})"


def _int(problems: _Problems, where: str | None, fld: str, value: Any, lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, fld, f"expected an integer, got {_describe(value)}")
        return None
    if not lo <= value <= hi:
        problems.add(where, fld, f"{value} is out of range (expected {lo}..{hi})")
        return None
    return value


def _str(
    problems: _Problems, where: str | None, fld: str, value: Any, limit: int = MAX_SHORT_TEXT
) -> str | None:
    if not isinstance(value, str):
        problems.add(where, fld, f"expected a string, got {_describe(value)}")
        return None
    if not value.strip():
        problems.add(where, fld, "must not be empty")
        return None
    if len(value) > limit:
        problems.add(where, fld, f"is {len(value)} characters long (at most {limit})")
        return None
    return value


def _time(problems: _Problems, where: str, value: Any) -> dtime | None:
    if isinstance(value, dtime):  # a TOML local time such as 09:30:00
        if value.tzinfo is not None or value.second or value.microsecond:
            problems.add(where, "time", f"expected a local time HH:MM, got {_describe(value)}")
            return None
        return value
    if not isinstance(value, str):
        problems.add(where, "time", f"expected a time \"HH:MM\", got {_describe(value)}")
        return None
    m = _TIME_RE.match(value.strip())
    if not m:
        problems.add(where, "time", f"{value!r} is not a time (expected HH:MM, e.g. '09:30')")
        return None
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 23:
        problems.add(where, "time", f"{value!r} is not a valid time: the hour must be 00..23")
        return None
    if minute > 59:
        problems.add(where, "time", f"{value!r} is not a valid time: the minutes must be 00..59")
        return None
    return dtime(hour, minute)


def _check_text(problems: _Problems, where: str, text: str, intent: str | None, audience: str | None) -> None:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        problems.add(where, "text", f"broken braces {_brace_problem(text) or f'({exc})'}; "
                     "write {{ and }} for literal braces")
        return
    allowed = (
        allowed_placeholders(intent, audience)
        if intent in ALLOWED_AUDIENCES and audience in AUDIENCES
        else frozenset(PLACEHOLDERS)
    )
    seen: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None or name in seen:
            continue
        seen.add(name)
        if name not in PLACEHOLDERS:
            shown = "{" + name + "}"
            problems.add(
                where,
                "text",
                f"unknown placeholder {shown} (known: "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                + ")",
            )
        elif name not in allowed:
            if name in ("title", "held_at"):
                why = "only group_meeting steps have it"
            elif name == "first_name":
                why = "pair messages are read by several people; use {buddy_names}"
            else:
                why = f"messages to {audience} have no buddy"
            problems.add(where, "text", f"placeholder {{{name}}} cannot be used here: {why}")
        elif spec or conversion:
            problems.add(
                where, "text", f"placeholder {{{name}}} must be written plainly, without ':' or '!'"
            )


def _brace_problem(text: str) -> str | None:
    """Describe the first unbalanced brace in ``text``, quoting the text around it."""
    i = 0
    while i < len(text):
        c = text[i]
        if c in "{}" and text[i : i + 2] in ("{{", "}}"):
            i += 2
            continue
        if c == "{":
            end = text.find("}", i)
            nested = text.find("{", i + 1)
            if end == -1 or (nested != -1 and nested < end):
                stop = end if end != -1 else len(text)
                if nested != -1 and nested < stop:
                    stop = nested
                fragment = text[i:stop].rstrip()[:30]
                return f"in {fragment!r}: this '{{' is never closed"
            i = end + 1
            continue
        if c == "}":
            fragment = text[max(0, i - 29) : i + 1].lstrip()
            return f"in {fragment!r}: this '}}' has no opening '{{'"
        i += 1
    return None


def _check_params(
    problems: _Problems, where: str, intent: str, raw: Any
) -> dict[str, Any] | None:
    specs = PARAMS[intent]
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.add(where, "params", f"expected a table, got {_describe(raw)}")
        return None
    out: dict[str, Any] = {}
    ok = True
    for key, value in raw.items():
        fld = f"params.{key}"
        spec = specs.get(key)
        if spec is None:
            if specs:
                close = difflib.get_close_matches(key, list(specs), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                problems.add(
                    where,
                    fld,
                    f"unknown parameter for {intent}{hint} (allowed: {', '.join(specs)})",
                )
            else:
                problems.add(where, fld, f"unknown parameter: {intent} takes no parameters")
            ok = False
            continue
        if spec.kind == "int":
            lo = spec.minimum if spec.minimum is not None else -(2**31)
            hi = spec.maximum if spec.maximum is not None else 2**31
            checked = _int(problems, where, fld, value, lo, hi)
        elif spec.kind == "str":
            checked = _str(problems, where, fld, value)
        elif spec.kind == "choice":
            if not isinstance(value, str):
                problems.add(where, fld, f"expected a string, got {_describe(value)}")
                checked = None
            elif value not in spec.choices:
                problems.add(where, fld, f"{value!r} is not one of {', '.join(spec.choices)}")
                checked = None
            else:
                checked = value
        else:  # survey_id
            if not isinstance(value, str):
                problems.add(where, fld, f"expected a string, got {_describe(value)}")
                checked = None
            elif not _SURVEY_ID_RE.match(value):
                problems.add(
                    where,
                    fld,
                    f"{value!r} is not a survey id (lowercase letters, digits, '_' and '-')",
                )
                checked = None
            else:
                checked = value
        if checked is None:
            ok = False
        else:
            out[key] = checked
    for key, spec in specs.items():
        if key in raw:
            continue
        if spec.required:
            extra = f" (one of {', '.join(spec.choices)})" if spec.choices else ""
            problems.add(where, f"params.{key}", f"missing required parameter for {intent}{extra}")
            ok = False
        elif spec.default is not None:
            out[key] = spec.default
        elif spec.kind == "survey_id":
            out[key] = intent
    return out if ok else None


def _build(data: Mapping[str, Any], source: str) -> Programme:
    problems = _Problems(source)

    for key in data:
        if key not in _TOP_LEVEL:
            close = difflib.get_close_matches(key, _TOP_LEVEL, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.add(None, None, f"unknown top-level table or key '{key}'{hint} (allowed: [programme], [[steps]])")

    # [programme]
    head = data.get("programme")
    name = description = None
    meetings_target = group_meetings_target = None
    targets_given: dict[str, bool] = {}
    where_p = "[programme]"
    if head is None:
        problems.add(None, None, "missing the [programme] table (with at least name = \"...\")")
    elif not isinstance(head, Mapping):
        problems.add(None, "programme", f"expected a table, got {_describe(head)}")
    else:
        for key in head:
            if key not in _PROGRAMME_FIELDS:
                problems.add(where_p, key, _unknown(key, _PROGRAMME_FIELDS))
        if "name" not in head:
            problems.add(where_p, "name", "missing required field")
        else:
            name = _str(problems, where_p, "name", head["name"])
        description = ""
        if "description" in head:
            v = head["description"]
            if not isinstance(v, str):
                problems.add(where_p, "description", f"expected a string, got {_describe(v)}")
            else:
                description = v
        for key in ("meetings_target", "group_meetings_target"):
            targets_given[key] = key in head
            if key in head:
                val = _int(problems, where_p, key, head[key], *TARGET_RANGE)
                if key == "meetings_target":
                    meetings_target = val
                else:
                    group_meetings_target = val

    # [[steps]]
    raw_steps = data.get("steps")
    built: list[tuple[int, Step]] = []
    if raw_steps is None:
        problems.add(None, None, "the programme has no steps (add [[steps]] tables)")
        raw_steps = []
    elif not isinstance(raw_steps, list):
        problems.add(None, "steps", f"expected an array of tables [[steps]], got {_describe(raw_steps)}")
        raw_steps = []
    elif not raw_steps:
        problems.add(None, None, "the programme has no steps (add [[steps]] tables)")

    first_seen: dict[str, int] = {}
    for index, raw in enumerate(raw_steps):
        position = index + 1
        step = _build_step(problems, raw, position, first_seen)
        if step is not None:
            built.append((index, step))

    if problems.items:
        raise ProgrammeError(source, problems.items)

    built.sort(key=lambda pair: (pair[1].week, pair[1].day, pair[1].time, pair[0]))
    steps: list[Step] = []
    meeting_count = 0
    for _, step in built:
        if step.intent == "propose_meeting":
            meeting_count += 1
            if "meeting_number" not in step.params:
                params = dict(step.params)
                params["meeting_number"] = meeting_count
                step = Step(
                    step.id, step.week, step.day, step.time, step.intent, step.audience,
                    step.text, Params(params),
                )
        steps.append(step)

    if not targets_given.get("meetings_target"):
        meetings_target = sum(1 for s in steps if s.intent == "propose_meeting")
    if not targets_given.get("group_meetings_target"):
        group_meetings_target = sum(1 for s in steps if s.intent == "group_meeting")

    assert name is not None and meetings_target is not None and group_meetings_target is not None
    return Programme(
        name=name,
        description=description or "",
        meetings_target=meetings_target,
        group_meetings_target=group_meetings_target,
        steps=tuple(steps),
        source=source,
    )


def _build_step(
    problems: _Problems, raw: Any, position: int, first_seen: dict[str, int]
) -> Step | None:
    where = f"step {position}"
    if not isinstance(raw, Mapping):
        problems.add(where, None, f"expected a table, got {_describe(raw)}")
        return None
    before = len(problems.items)

    # Name the step by its id when the id is usable, else by its position.
    step_id = raw.get("id")
    id_ok = isinstance(step_id, str) and bool(_ID_RE.match(step_id))
    if id_ok and step_id in first_seen:
        where = f"step {position} (id '{step_id}')"
        problems.add(
            where, "id", f"duplicate id '{step_id}': step {first_seen[step_id]} already uses it"
        )
    elif id_ok:
        where = f"step '{step_id}'"
        first_seen[step_id] = position
    elif "id" not in raw:
        problems.add(where, "id", "missing required field")
    elif not isinstance(step_id, str):
        problems.add(where, "id", f"expected a string, got {_describe(step_id)}")
    else:
        problems.add(
            where,
            "id",
            f"{step_id!r} is not a valid id (use lowercase letters, digits and dashes, "
            "starting with a letter or digit, at most 63 characters)",
        )

    for key in raw:
        if key not in _STEP_FIELDS:
            problems.add(where, key, _unknown(key, _STEP_FIELDS))

    week = day = None
    if "week" not in raw:
        problems.add(where, "week", "missing required field")
    else:
        week = _int(problems, where, "week", raw["week"], *WEEK_RANGE)
    day = _int(problems, where, "day", raw["day"], *DAY_RANGE) if "day" in raw else 0
    at = _time(problems, where, raw["time"]) if "time" in raw else DEFAULT_TIME

    intent = audience = text = None
    if "intent" not in raw:
        problems.add(where, "intent", "missing required field")
    else:
        v = raw["intent"]
        if not isinstance(v, str):
            problems.add(where, "intent", f"expected a string, got {_describe(v)}")
        elif v not in INTENTS:
            close = difflib.get_close_matches(v, INTENTS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.add(where, "intent", f"{v!r} is not one of {', '.join(INTENTS)}{hint}")
        else:
            intent = v

    if "audience" not in raw:
        problems.add(where, "audience", "missing required field")
    else:
        v = raw["audience"]
        if not isinstance(v, str):
            problems.add(where, "audience", f"expected a string, got {_describe(v)}")
        elif v not in AUDIENCES:
            problems.add(where, "audience", f"{v!r} is not one of {', '.join(AUDIENCES)}")
        elif intent is not None and v not in ALLOWED_AUDIENCES[intent]:
            problems.add(
                where,
                "audience",
                f"{intent} steps cannot go to {v!r} (allowed: {', '.join(ALLOWED_AUDIENCES[intent])})",
            )
        else:
            audience = v

    if "text" not in raw:
        problems.add(where, "text", "missing required field")
    else:
        text = _str(problems, where, "text", raw["text"], MAX_TEXT)
        if text is not None:
            _check_text(problems, where, text, intent, audience)

    params: dict[str, Any] | None = {}
    if intent is not None:
        params = _check_params(problems, where, intent, raw.get("params"))
    elif "params" in raw and not isinstance(raw["params"], Mapping):
        problems.add(where, "params", f"expected a table, got {_describe(raw['params'])}")

    if len(problems.items) > before:
        return None
    assert week is not None and day is not None and at is not None
    assert intent is not None and audience is not None and text is not None and params is not None
    return Step(
        id=step_id, week=week, day=day, time=at, intent=intent, audience=audience, text=text,
        params=Params(params),
    )


# --------------------------------------------------------------------------- #
# Timeline
# --------------------------------------------------------------------------- #


def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r} (expected an IANA name such as 'Europe/London')") from None


def step_due_at(step: Step, start: date, tz: ZoneInfo | str) -> datetime:
    """When ``step`` is due for a cohort starting on ``start``: an aware datetime in ``tz``.

    The date is ``start + week*7 + day`` days and the wall-clock time is ``step.time``
    in ``tz``, whatever the UTC offset on that date (so 09:00 stays 09:00 across a
    daylight-saving change). Convert with ``.astimezone(timezone.utc)`` for storage.
    """
    zone = _zone(tz)
    if isinstance(start, datetime):
        start = start.date()
    day = start + timedelta(days=step.offset_days)
    return datetime.combine(day, step.time, tzinfo=zone)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _truncate(text: str, width: int) -> str:
    if width <= 3:
        return text[: max(width, 0)]
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def render_timeline(
    programme: Programme, start: date, tz: ZoneInfo | str, *, width: int = 110
) -> str:
    """A readable table of the programme's steps, dated for a cohort starting on ``start``."""
    zone = _zone(tz)
    if isinstance(start, datetime):
        start = start.date()
    first = f"{start:%a} {start.day} {start:%b %Y}"
    lines = [
        f"{programme.name} ({programme.source or 'no file'})",
        f"Start {first}, times in {zone.key}; {len(programme.steps)} steps, "
        f"{programme.meetings_target} buddy meetings and {programme.group_meetings_target} group meetings expected",
        "",
        f"{'when':<21}  {'week':<7}  {'intent':<18}  {'audience':<12}  text",
    ]
    for due, step in programme.timeline(start, zone):
        prefix = (
            f"{due:%a} {due.day:>2} {due:%b %Y %H:%M}  week {step.week:>2}  "
            f"{step.intent:<18}  {step.audience:<12}  "
        )
        text = _one_line(step.text)
        if step.intent == "group_meeting":
            held = due + timedelta(days=step.params.get("held_days_after", DEFAULT_HELD_DAYS_AFTER))
            text = f"[{step.params.get('title')}, held {held:%a} {held.day} {held:%b}] {text}"
        elif step.intent == "propose_shadowing":
            text = f"[{str(step.params.get('direction', '')).replace('_', ' ')}] {text}"
        lines.append(prefix + _truncate(text, width - len(prefix)))
    return "\n".join(lines)
