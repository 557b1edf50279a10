"""What every coordinator command shares: the caller's roles, finding the cohort, the person or
the pair a command names, options, and the audit log."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy import func, select

from bot.context import FlowContext, address_of
from bot.events import Command, Profile
from bot.messages import Message
from bot.models import AuditEntry, Cohort, Pair, PairMember, Participant, Person, RoleGrant

OPEN_STATUSES = ("draft", "running", "paused")
STAFF_ROLES = ("coordinator", "facilitator")
# Dates a programme can run on: far enough either way for any real cohort, and well inside what
# date arithmetic allows once steps are counted from the start (years like 0001 overflow there).
FIRST_YEAR, LAST_YEAR = 2000, 2100
# Row ids are 32-bit integers in PostgreSQL; a longer number names nothing.
MAX_ID = 2**31 - 1
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb"  # “ ” „ ‟ « »
_DASHES = "\u2013\u2014\u2012\u2212"  # – — ‒ −: a phone turns "--" into one of these
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u2060\ufeff"))


class Refusal(Exception):
    """A command that cannot be done as asked; the text says why and what to do instead.
    Raised before anything is written (and the command's savepoint is rolled back regardless)."""


@dataclass(frozen=True)
class CommandSpec:
    name: str  # one or two words: "status", "pair swap"
    roles: tuple[str, ...]  # who may run it; empty: anyone
    summary: str
    example: str
    run: Callable[["Call"], Message]


@dataclass
class Call:
    """One command being run: the unit of work, the caller, the words after the command's name."""

    ctx: FlowContext
    caller: Person | None
    args: list[str]
    event: Command

    @property
    def session(self):
        return self.ctx.session

    @property
    def organisation_id(self) -> int:
        return self.caller.organisation_id

    def audit(self, action: str, detail: str) -> None:
        self.session.add(AuditEntry(organisation_id=self.organisation_id, actor=actor_name(self.caller),
                                    action=action, detail=detail, at=self.ctx.now))


def actor_name(person: Person | None) -> str:
    if person is None:
        return "unknown"
    return f"{person.name} ({person.platform}:{person.user_id})" if person.user_id else person.name


def roles(ctx: FlowContext, person: Person | None) -> set[str]:
    if person is None:
        return set()
    return set(ctx.session.scalars(select(RoleGrant.role).where(RoleGrant.person_id == person.id,
                                                                RoleGrant.organisation_id == person.organisation_id)))


def options(args: list[str], allowed: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Split `--name value` options from the other words; an unknown or empty option is refused."""
    words, found = [], {}
    i = 0
    while i < len(args):
        word = args[i]
        if word.startswith("--"):
            name, sep, value = word[2:].partition("=")
            if name not in allowed:
                known = ", ".join(f"--{a}" for a in allowed) or "none"
                raise Refusal(f"'{word}' is not an option here (options: {known}).")
            if not sep:
                if i + 1 >= len(args) or args[i + 1].startswith("--"):
                    raise Refusal(f"'--{name}' needs a value.")
                i += 1
                value = args[i]
            found[name] = value
        else:
            words.append(word)
        i += 1
    return words, found


def as_typed_on_a_phone(text: str) -> str:
    """A command as shlex reads it, from what a phone keyboard makes of it: curly quotes are
    quotes (a ’ inside a word stays an apostrophe), a dash before a word is "--", any kind of
    space is a space, and digits from any script are 0-9."""
    out: list[str] = []
    quote = ""  # the quote shlex is inside: '"', "'" or none
    cleaned = text.translate(_INVISIBLE)
    for i, ch in enumerate(cleaned):
        before = out[-1] if out else " "
        if ch in _DOUBLE_QUOTES:
            ch = '"' if quote in ("", '"') else ch
        elif ch == "\u2018":  # ‘ opens a quote where one can start
            ch = "'" if quote == "" else ch
        elif ch == "\u2019":  # ’ closes a ‘ quote; inside a word it is an apostrophe (O’Brien’s)
            ch = "'" if quote == "'" and not cleaned[i + 1:i + 2].isalnum() else ch
        elif ch in _DASHES and before.isspace() and quote == "":
            ch = "--"
        elif ch.isspace():
            ch = " " if quote == "" or ch not in "\n\t" else ch
        elif unicodedata.category(ch) == "Nd":
            ch = str(unicodedata.decimal(ch))
        if ch == '"' and quote in ("", '"') and before != "\\":
            quote = "" if quote else '"'
        elif ch == "'" and quote in ("", "'"):
            quote = "" if quote else "'"
        out.append(ch)
    return "".join(out)


def whole_number(text: str, what: str, lowest: int = 0, highest: int = MAX_ID) -> int:
    """A number typed in a command, in its range; otherwise a refusal that says what was wrong."""
    cleaned = text.strip()
    sign = -1 if cleaned[:1] == "-" and lowest < 0 else 1
    digits = cleaned[1:] if sign < 0 else cleaned
    if not (digits.isascii() and digits.isdecimal()):
        raise Refusal(f"'{text}' is not a whole number: {what} is a number like {max(lowest, 1)}.")
    value = sign * int(digits[:12])
    if len(digits.lstrip("0")) > 12 or not lowest <= value <= highest:
        raise Refusal(f"{text} is out of range: {what} is from {lowest} to {highest}.")
    return value


def record_number(text: str) -> int | None:
    """The number of a pair or an import (#12 or 12), or None if the text cannot be one."""
    digits = text.strip().lstrip("#")
    if not (digits.isascii() and digits.isdecimal()) or len(digits.lstrip("0")) > 10 or int(digits) > MAX_ID:
        return None
    return int(digits)


def parse_date(text: str, what: str) -> date:
    try:
        found = date.fromisoformat(text)
    except ValueError:
        raise Refusal(f"'{text}' is not a {what}: write it as YYYY-MM-DD, e.g. 2027-01-04.") from None
    if not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise Refusal(f"{text} is out of range: give a {what} between {FIRST_YEAR} and {LAST_YEAR}, "
                      f"as YYYY-MM-DD.")
    return found


# --- cohorts -----------------------------------------------------------------------------------------
def find_cohort(call: Call, name: str | None, open_only: bool = True) -> Cohort:
    """The cohort named, or the newest open one of the caller's organisation."""
    query = select(Cohort).where(Cohort.organisation_id == call.organisation_id)
    if name:
        found = call.session.scalars(query.where(func.lower(Cohort.name) == name.lower())).first()
        if found is None:
            names = ", ".join(call.session.scalars(query.with_only_columns(Cohort.name).order_by(Cohort.id)))
            raise Refusal(f"There is no cohort called '{name}'." + (f" Cohorts: {names}." if names else ""))
        return found
    if open_only:
        query = query.where(Cohort.status.in_(OPEN_STATUSES))
    found = call.session.scalars(query.order_by(Cohort.id.desc())).first()
    if found is None:
        raise Refusal("There is no open cohort yet: create one with 'cohort create NAME --start YYYY-MM-DD'.")
    return found


# --- people ------------------------------------------------------------------------------------------
def named_profile(call: Call, token: str) -> Profile | None:
    """The directory's answer for a mention or email (emails match whatever their case); failing
    that, someone this organisation already knows by that email (all the console and Teams have)."""
    folded = token.strip("<>").lower() if "@" in token.strip("<>@") else None
    found = next((p for p in call.event.people if p.mention == token
                  or (folded is not None and p.mention.lower() == folded)), None)
    if found is None and folded is not None and call.caller is not None:
        known = call.session.scalars(select(Person).where(Person.organisation_id == call.organisation_id,
                                                          func.lower(Person.email) == folded)).first()
        if known is not None and known.platform != "console":
            found = Profile(token, address_of(known), known.name, known.email, known.timezone)
    return found


def _lookup(call: Call, token: str) -> Person | None:
    profile = named_profile(call, token)
    session = call.session
    person = None
    if profile is not None:
        person = session.scalars(select(Person).where(
            Person.platform == profile.address.platform, Person.workspace == profile.address.workspace,
            Person.user_id == profile.address.user)).first()
    elif "@" in token.strip("<>@"):
        person = session.scalars(select(Person).where(
            Person.organisation_id == call.organisation_id,
            func.lower(Person.email) == token.strip("<>").lower())).first()
    return person if person is not None and person.organisation_id == call.organisation_id else None


def find_person(call: Call, token: str) -> Person:
    """A person of the caller's organisation, named by mention or work email."""
    person = _lookup(call, token)
    if person is None:
        profile = named_profile(call, token)
        if profile is not None:
            raise Refusal(f"{profile.name} has not been enrolled or given a role here yet.")
        if token in call.event.unknown:
            raise Refusal(f"'{token}' is not a person in this workspace.")
        raise Refusal(f"I don't know '{token}' here: mention them (@name) or give their work email.")
    return person


def find_participant(call: Call, cohort: Cohort, token: str) -> Participant:
    profile = named_profile(call, token)
    if profile is not None and _lookup(call, token) is None:
        raise Refusal(f"{profile.name} is not enrolled in {cohort.name}.")
    person = find_person(call, token)
    found = call.session.scalars(select(Participant).where(Participant.cohort_id == cohort.id,
                                                           Participant.person_id == person.id)).first()
    if found is None:
        raise Refusal(f"{person.name} is not enrolled in {cohort.name}.")
    return found


def current_pair(call: Call, participant: Participant, statuses: tuple[str, ...] = ("active",)) -> Pair | None:
    return call.session.scalars(
        select(Pair).join(PairMember, PairMember.pair_id == Pair.id)
        .where(PairMember.participant_id == participant.id, Pair.status.in_(statuses))
        .order_by(Pair.id.desc())).first()


def find_pair(call: Call, cohort: Cohort, token: str) -> Pair:
    """A pair named by its number (#12) or by any of its members."""
    if token.startswith("#") and token[1:].isdigit():
        number = record_number(token)
        pair = call.session.get(Pair, number) if number is not None else None
        if pair is None or pair.cohort_id != cohort.id or pair.status == "broken":
            raise Refusal(f"There is no pair {token} in {cohort.name}.")
        return pair
    member = find_participant(call, cohort, token)
    pair = current_pair(call, member, ("active", "proposed"))
    if pair is None:
        raise Refusal(f"{member.person.name} is not in a pair in {cohort.name}.")
    return pair


def pair_label(pair: Pair) -> str:
    people = [m.participant.person.name for m in pair.members]
    return f"#{pair.id} " + " & ".join(people)


def need(args: list[str], count: int, usage: str) -> None:
    if len(args) < count:
        raise Refusal(f"Usage: {usage}")


def done(text: str, intent: str = "done") -> Message:
    return Message(text, intent=intent)
