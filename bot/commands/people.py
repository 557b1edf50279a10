"""People commands: enrol one person, import a CSV (preview, then confirm), remove someone, and
grant or withdraw the coordinator and facilitator roles."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from sqlalchemy import func, select

from bot import enrolment, invitations, reach, rota
from bot.commands.common import (
    Call, CommandSpec, Refusal, current_pair, done, find_cohort, find_participant, find_person, named_profile,
    need, pair_label, record_number,
)
from bot.context import active_members, names
from bot.events import Address, Profile
from bot.messages import Message
from bot.models import Cohort, Organisation, Participant, PendingImport, Person, RoleGrant
from bot.rota_text import RotaError, applied, parse_leave, parse_rota, parse_rotation
from bot.slots import AvailabilityError, parse_availability

ENROL_FIELDS = ("profession", "site", "department", "grade", "band", "rota", "leave", "rotates", "availability",
                "goals", "line_manager", "requests", "cohort")
ENROL_USAGE = ("enrol PERSON ROLE [profession=...] [site=...] [department=...] [grade=...] "
               "[rota=\"nights 1 in 4 from 2027-01-11\"] [leave=2027-03-01..2027-03-05] [rotates=2027-04-07] "
               "[availability=\"Mon 12:00-14:00\"] [goals=budgets,rotas] [line_manager=EMAIL] "
               "[requests=EMAIL,EMAIL] [cohort=NAME]")
# CSV columns: email and role are required; "band" is accepted for "grade".
CSV_COLUMNS = ("email", "name", "role", "profession", "site", "department", "grade", "band", "rota", "leave",
               "rotates", "availability", "goals", "line_manager", "requests")
MAX_IMPORT_ROWS = 5000
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
LIMITS = {"profession": 100, "site": 100, "department": 100, "grade": 50}
# A rota in the forms participants type (bot/rota_text.py): rota="nights 1 in 4 from 2027-01-11".
ROTA_FIELDS = ("rota", "leave", "rotates")
ROTA_LIMIT = 500


def _details(raw: dict[str, str], today: date) -> dict:
    """Validated participant details from `key=value` words or a CSV row; Refusal names the problem."""
    details: dict = _rota_details({k: (raw.get(k) or "").strip() for k in ROTA_FIELDS}, today)
    for key, value in raw.items():
        value = (value or "").strip()
        if not value:
            continue
        if key in LIMITS:
            if len(value) > LIMITS[key]:
                raise Refusal(f"{key} is longer than {LIMITS[key]} characters")
            details[key] = value
        elif key == "availability":
            try:
                details[key] = parse_availability(value)
            except AvailabilityError as problem:
                raise Refusal(f"availability {problem}") from None
        elif key == "goals":
            details[key] = sorted({g.strip().lower() for g in re.split(r"[,;]", value) if g.strip()})
        elif key == "line_manager":
            if not EMAIL.match(value):
                raise Refusal(f"line_manager '{value}' is not an email address")
            details[key] = value.lower()
        elif key == "requests":
            asked = [r.strip().lower() for r in re.split(r"[,;\s]+", value) if r.strip()]
            bad = [r for r in asked if not EMAIL.match(r)]
            if bad:
                raise Refusal(f"requests '{bad[0]}' is not an email address")
            details[key] = asked
    return details


def _rota_details(typed: dict[str, str], today: date) -> dict:
    """rota=, leave= and rotates= as a rota (and its description), read as a participant's 'rota ...' is."""
    if not any(typed.values()):
        return {}
    plan = rota.RotaPlan()
    for key, value in typed.items():
        if not value:
            continue
        if len(value) > ROTA_LIMIT:
            raise Refusal(f"{key} is longer than {ROTA_LIMIT} characters")
        try:
            if key == "rota":
                plan = applied(plan, parse_rota(value, today))
            elif key == "leave":
                plan = plan.with_leave(parse_leave(value, today))
            else:
                plan = plan.with_rotation(parse_rotation(value, today))
        except RotaError as problem:
            raise Refusal(f"{key} {problem}") from None
    return {"rota_plan": plan.to_dict(), "rota": rota.cut(plan.describe(), 200)}


def _not_found(call: Call, who: str, row: bool = False) -> str:
    """Why nobody answers to `who`: the directory said no, or (where there is no directory to ask,
    as at the console and in Teams) nobody with that email has used Pairbot yet."""
    looked_up = any(u.lower() == who.lower() for u in call.event.unknown)
    if looked_up:
        return f"{who} is not a person in this workspace" if row else \
            f"'{who}' is not a person in this workspace: mention them (@name) or give their work email."
    if "@" in who.strip("<>@"):
        text = f"I can't find anyone with the email {who}: check it, or ask them to open Pairbot once so I know them"
        return text if row else text + "."
    return f"'{who}' does not name a person: mention them (@name) or give their work email."


def _already_enrolled(call: Call, cohort, profile: Profile) -> Participant | None:
    return call.session.scalars(
        select(Participant).join(Person, Person.id == Participant.person_id)
        .where(Participant.cohort_id == cohort.id, Person.platform == profile.address.platform,
               Person.workspace == profile.address.workspace, Person.user_id == profile.address.user)).first()


def _enrol_one(call: Call, cohort, profile: Profile, role: str, details: dict) -> Participant:
    org = call.session.get(Organisation, call.organisation_id)
    return enrolment.enrol(call.session, cohort, org, enrolment.Enrolee(
        address=profile.address, name=profile.name, role=role, email=profile.email, timezone=profile.timezone,
        **details), call.ctx.now)


def _enrol(call: Call) -> Message:
    """Enrol someone named by mention or email, with what the platform's directory knows of them."""
    if len(call.args) < 2:
        raise Refusal(f"Usage: {ENROL_USAGE}\nROLE is one of {', '.join(enrolment.ROLES)}.")
    who, role, extras = call.args[0], call.args[1].lower(), call.args[2:]
    if role not in enrolment.ROLES:
        raise Refusal(f"'{call.args[1]}' is not a role: use one of {', '.join(enrolment.ROLES)}.")
    raw: dict[str, str] = {}
    for extra in extras:
        key, sep, value = extra.partition("=")
        if not sep or key.lower() not in ENROL_FIELDS:
            raise Refusal(f"'{extra}' is not something I can record: use "
                          f"{', '.join(f + '=...' for f in ENROL_FIELDS)}.")
        raw["grade" if key.lower() == "band" else key.lower()] = value  # a manager's band is their grade
    cohort = find_cohort(call, raw.pop("cohort", None) or None)
    if cohort.status == "finished":
        raise Refusal(f"{cohort.name} has finished; enrol people into an open cohort.")
    try:
        details = _details(raw, call.ctx.now.date())
    except Refusal as problem:
        raise Refusal(f"Not enrolled: {problem}.") from None
    profile = named_profile(call, who)
    if profile is None:
        raise Refusal(_not_found(call, who))
    existing = _already_enrolled(call, cohort, profile)
    if existing is not None:
        return Message(f"{profile.name} is already enrolled in {cohort.name} as a {existing.role}.", intent="status")
    participant = _enrol_one(call, cohort, profile, role, details)
    call.audit("enrol", f"{profile.name} ({profile.address.key()}) as {role} in {cohort.name}")
    rota_words = f" Rota: {participant.rota}." if participant.rota_plan else ""
    return Message(f"Enrolled {participant.person.name} in {cohort.name} as a {role}"
                   f" (time zone {participant.person.timezone}).{rota_words}", intent="enrolled")


# --- CSV import --------------------------------------------------------------------------------------
def _read_rows(text: str) -> list[dict[str, str]]:
    if text.startswith("\ufeff"):
        text = text[1:]  # Excel's byte-order mark
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as problem:
        raise Refusal(f"That file is not a CSV I can read: {problem}.") from None
    if not header:
        raise Refusal("The file is empty: it needs a header row (email, role, ...) and one row per person.")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise Refusal(f"The file has columns I don't know: {', '.join(unknown)}. "
                      f"Columns: {', '.join(CSV_COLUMNS)} (email and role are required).")
    missing = [c for c in ("email", "role") if c not in header]
    if missing:
        raise Refusal(f"The file has no {' or '.join(missing)} column; both are required.")
    reader.fieldnames = header
    try:
        rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as problem:
        raise Refusal(f"That file is not a CSV I can read (line {reader.line_num}): {problem}.") from None
    if not rows:
        raise Refusal("The file has a header but no people.")
    if len(rows) > MAX_IMPORT_ROWS:
        raise Refusal(f"The file has {len(rows)} rows; import at most {MAX_IMPORT_ROWS} at a time.")
    return rows


def _check_row(call: Call, cohort, row: dict[str, str], seen: set[str]) -> dict:
    email = row.get("email", "").strip().lower()
    if not email:
        raise Refusal("no email")
    if not EMAIL.match(email):
        raise Refusal(f"'{email}' is not an email address")
    if email in seen:
        raise Refusal(f"{email} is in the file more than once")
    seen.add(email)
    role = row.get("role", "").strip().lower()
    if role not in enrolment.ROLES:
        raise Refusal(f"role '{row.get('role', '')}' is not one of {', '.join(enrolment.ROLES)}")
    profile = named_profile(call, email)
    if profile is None:
        raise Refusal(_not_found(call, email, row=True))
    if _already_enrolled(call, cohort, profile) is not None:
        raise Refusal(f"{profile.name} is already enrolled in {cohort.name}")
    raw = {k: v for k, v in row.items() if k in LIMITS or k in ROTA_FIELDS
           or k in ("availability", "goals", "line_manager", "requests")}
    if row.get("band") and not row.get("grade"):
        raw["grade"] = row["band"]
    details = _details(raw, call.ctx.now.date())
    return {"profile": {"mention": email, "address": profile.address.key(), "name": profile.name,
                        "email": profile.email or email, "timezone": profile.timezone},
            "role": role, "details": details}


def _import(call: Call) -> Message:
    cohort = find_cohort(call, " ".join(call.args) or None)
    uploads = [u for u in call.event.uploads if u.name.lower().endswith((".csv", ".txt")) or len(call.event.uploads) == 1]
    if not uploads:
        raise Refusal("Attach a CSV file to the message that says 'import' (at the console: import PATH). "
                      f"Columns: {', '.join(CSV_COLUMNS)}; email and role are required.")
    upload = uploads[0]
    rows = _read_rows(upload.text)
    good, bad, seen = [], [], set()
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            good.append(_check_row(call, cohort, row, seen))
        except Refusal as problem:
            bad.append(f"• row {number} ({row.get('email', '').strip() or 'no email'}): {problem}")
    for older in call.session.scalars(select(PendingImport).where(PendingImport.cohort_id == cohort.id,
                                                                  PendingImport.status == "previewed")):
        older.status = "replaced"
    pending = None
    if good:
        pending = PendingImport(cohort_id=cohort.id, requested_by=call.caller.id, rows=good, status="previewed",
                                created_at=call.ctx.now)
        call.session.add(pending)
        call.session.flush()
    roles_found = {r: sum(1 for g in good if g["role"] == r) for r in enrolment.ROLES}
    lines = [f"{upload.name}: {len(rows)} people, {len(good)} ready to enrol in {cohort.name} "
             f"({', '.join(f'{n} {r}s' for r, n in roles_found.items() if n) or 'none'}), "
             f"{len(bad)} with problems. Nothing is written yet."]
    lines.extend(bad[:50])
    if len(bad) > 50:
        lines.append(f"• ... and {len(bad) - 50} more rows with problems")
    if pending is not None:
        lines.append(f"Send 'import confirm {pending.id}' to enrol the {len(good)} ready"
                     + (" (the rows above are left out)" if bad else "") + ", or fix the file and import it again.")
    else:
        lines.append("Fix the file and import it again.")
    return Message("\n".join(lines), intent="import_preview" if pending is not None else "error")


def _import_confirm(call: Call) -> Message:
    need(call.args, 1, "import confirm NUMBER (the number in the preview)")
    number = record_number(call.args[0])
    pending = call.session.get(PendingImport, number) if number is not None else None
    if pending is None or pending.status != "previewed":
        raise Refusal(f"There is no import {call.args[0]} waiting: import the file again to get a fresh preview.")
    cohort = call.session.get(Cohort, pending.cohort_id)
    if cohort.organisation_id != call.organisation_id:
        raise Refusal(f"There is no import {call.args[0]} waiting.")
    enrolled, skipped = 0, []
    for row in pending.rows:
        p = row["profile"]
        profile = Profile(p["mention"], Address.parse(p["address"]), p["name"], p["email"], p["timezone"])
        if _already_enrolled(call, cohort, profile) is not None:
            skipped.append(p["name"])  # enrolled by someone else since the preview
            continue
        _enrol_one(call, cohort, profile, row["role"], row["details"])
        enrolled += 1
    pending.status = "confirmed"
    call.audit("import", f"{enrolled} people into {cohort.name} (import {pending.id})")
    text = f"Enrolled {enrolled} people in {cohort.name}."
    if skipped:
        text += f" Already enrolled since the preview, so left as they were: {', '.join(skipped)}."
    return done(text, "enrolled")


# --- removing people ---------------------------------------------------------------------------------
def _remove(call: Call) -> Message:
    need(call.args, 1, "remove PERSON [COHORT]")
    cohort = find_cohort(call, " ".join(call.args[1:]) or None)
    leaving = find_participant(call, cohort, call.args[0])
    if leaving.status == "removed":
        return Message(f"{leaving.person.name} was already removed from {cohort.name}.", intent="status")
    pair = current_pair(call, leaving, ("active", "proposed"))
    leaving.status = "removed"
    invitations.left(call.ctx, leaving, cohort)  # their calendar loses what is still to come
    lines = [f"Removed {leaving.person.name} from {cohort.name}: they get no more programme messages. "
             f"What they answered stays in the cohort's records."]
    if pair is not None:
        others = [m.participant for m in pair.members if m.participant_id != leaving.id
                  and m.participant.status != "removed"]
        if len(others) >= 2:
            lines.append(f"Their group carries on as {names(others)}.")
            if missing := reach.out_of_reach(others):
                lines.append(f"I can't reach {names(missing)} at the moment, so the group's steps reach "
                             f"{names(reach.reachable(others)) or 'nobody'} until they write to me.")
        else:
            pair.status = "broken"
            invitations.pair_ended(call.ctx, pair, f"{leaving.person.name} has left the programme.")
            for other in others:
                lines.append(f"{other.person.name} is now without a buddy: pair them with 'pair manual' or "
                             f"add them to a group.")
                if pair.introduced_at is not None and other in active_members(pair):
                    call.ctx.send_to(other, Message(
                        f"{leaving.person.name} has left the programme, so your pairing has ended. Your "
                        f"coordinator will be in touch about a new buddy.", intent="pair_changed"),
                        f"pair:{pair.id}:ended:{leaving.id}:to:{other.id}", cohort.id)
    call.audit("remove", f"{leaving.person.name} from {cohort.name}" + (f" ({pair_label(pair)})" if pair else ""))
    return done("\n".join(lines))


# --- roles -------------------------------------------------------------------------------------------
def _grant(role: str):
    def run(call: Call) -> Message:
        need(call.args, 1, f"{role} add PERSON")
        profile = named_profile(call, call.args[0])
        org = call.session.get(Organisation, call.organisation_id)
        if profile is not None:
            who = enrolment.person(call.session, org, profile.address, profile.name, call.ctx.now, profile.email,
                                   profile.timezone)
        else:
            who = find_person(call, call.args[0])
        if not enrolment.grant(call.session, org, who, role, call.ctx.now):
            return Message(f"{who.name} is already a {role}.", intent="status")
        call.audit(f"{role} add", f"{who.name} ({who.platform}:{who.user_id})")
        return done(f"{who.name} is now a {role} of {org.name}.")

    return run


def _withdraw(role: str):
    def run(call: Call) -> Message:
        need(call.args, 1, f"{role} remove PERSON")
        who = find_person(call, call.args[0])
        grant = call.session.scalars(select(RoleGrant).where(RoleGrant.organisation_id == call.organisation_id,
                                                             RoleGrant.person_id == who.id,
                                                             RoleGrant.role == role)).first()
        if grant is None:
            return Message(f"{who.name} is not a {role}.", intent="status")
        if role == "coordinator":
            count = call.session.scalar(select(func.count()).select_from(RoleGrant).where(
                RoleGrant.organisation_id == call.organisation_id, RoleGrant.role == "coordinator"))
            if count <= 1:
                raise Refusal(f"{who.name} is the only coordinator; add another before removing them, so "
                              f"somebody can still run the programme.")
        call.session.delete(grant)
        call.audit(f"{role} remove", f"{who.name} ({who.platform}:{who.user_id})")
        return done(f"{who.name} is no longer a {role}.")

    return run


COMMANDS = (
    CommandSpec("enrol", ("coordinator",), "enrol someone by @mention or email",
                "enrol @asha clinician profession=\"Junior doctor\" site=North", _enrol),
    CommandSpec("import", ("coordinator",), "preview a CSV of people to enrol (attach the file)",
                "import (with people.csv attached)", _import),
    CommandSpec("import confirm", ("coordinator",), "enrol the people of a previewed CSV", "import confirm 3",
                _import_confirm),
    CommandSpec("remove", ("coordinator",), "take someone out of the cohort", "remove @asha", _remove),
    CommandSpec("coordinator add", ("coordinator",), "make someone a coordinator", "coordinator add @rita",
                _grant("coordinator")),
    CommandSpec("coordinator remove", ("coordinator",), "withdraw the coordinator role",
                "coordinator remove @rita", _withdraw("coordinator")),
    CommandSpec("facilitator add", ("coordinator",), "make someone a facilitator (they get the digests)",
                "facilitator add @fran", _grant("facilitator")),
    CommandSpec("facilitator remove", ("coordinator",), "withdraw the facilitator role",
                "facilitator remove @fran", _withdraw("facilitator")),
)
