"""A person's own data: a copy of everything held about them (`my-data`), and erasure
(`forget-me`). Erasure removes what identifies them or was theirs to say; what the programme
counts (meetings a pair held, how many finished a survey, workshop places taken) stays, as
anonymous counts, so the cohort's figures and the evaluation report still add up."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Text, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from bot.context import address_of
from bot.models import (
    AuditEntry, CalendarInvitation, Cohort, Contract, Conversation, Delivery, ErasedCount, Meeting, Pair, PairMember,
    Participant, PendingImport, Person, Prompt, Reflection, RoleGrant, Rsvp, SurveyResponse, TypedNote,
)
from bot.surveys import get_survey

ERASED = "[erased]"
ERASED_NAME = "Erased participant"


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _row(obj, *columns: str) -> dict[str, Any]:
    return {c: _plain(getattr(obj, c)) for c in columns}


def personal_data(session: Session, person: Person) -> dict[str, Any]:
    """Everything held about `person`, as plain JSON-able data (a subject access copy)."""
    participations = list(session.scalars(select(Participant).where(Participant.person_id == person.id)).unique())
    ids = [p.id for p in participations]
    address = address_of(person).key()
    cohorts = {c.id: c.name for c in session.scalars(select(Cohort).where(
        Cohort.id.in_([p.cohort_id for p in participations])))} if participations else {}
    pairs = []
    for participant_id, pair in session.execute(select(PairMember.participant_id, Pair).join(
            Pair, Pair.id == PairMember.pair_id).where(PairMember.participant_id.in_(ids))).all():
        buddies = [m.participant.person.name for m in pair.members if m.participant_id != participant_id]
        pairs.append({"cohort": cohorts.get(pair.cohort_id), "status": pair.status, "with": buddies,
                      "introduced_at": _plain(pair.introduced_at), "last_met_at": _plain(pair.last_met_at)})
    return {
        "about": "Everything Pairbot holds about you, as of this moment.",
        "person": {**_row(person, "name", "email", "timezone", "reachable", "created_at"),
                   "platform": person.platform, "workspace": person.workspace, "user_id": person.user_id},
        "roles": [_row(g, "role", "granted_at") for g in session.scalars(
            select(RoleGrant).where(RoleGrant.person_id == person.id))],
        "programmes": [{"cohort": cohorts.get(p.cohort_id), **_row(
            p, "role", "profession", "site", "department", "grade", "rota", "rota_plan", "availability", "goals",
            "line_manager", "requests", "status", "paused_until", "created_at")} for p in participations],
        "pairs": pairs,
        "meetings": [_row(m, "kind", "direction", "title", "status", "agreed_at", "outcome_at") for m in session.scalars(
            select(Meeting).join(PairMember, PairMember.pair_id == Meeting.pair_id)
            .where(PairMember.participant_id.in_(ids)).order_by(Meeting.id))],
        "workshop_replies": [_row(r, "answer", "answered_at") for r in session.scalars(
            select(Rsvp).where(Rsvp.participant_id.in_(ids)))],
        "reflections": [_row(r, "text", "shared", "created_at") for r in session.scalars(
            select(Reflection).where(Reflection.participant_id.in_(ids)).order_by(Reflection.id))],
        "survey_answers": [{"survey": a.survey, "question": _question(a.survey, a.item), "answer":
                            a.value if a.value is not None else a.text, "answered_at": _plain(a.answered_at)}
                           for a in session.scalars(select(SurveyResponse).where(
                               SurveyResponse.participant_id.in_(ids)).order_by(SurveyResponse.id))],
        "messages_sent_to_you": [{"text": d.message.get("text", ""), "status": d.status, "sent_at": _plain(d.sent_at)}
                                 for d in _deliveries_naming(session, person)
                                 if address in d.recipient.get("members", [])],
        "audit_entries": [_row(e, "actor", "action", "detail", "at") for e in _audit_about(session, person)],
        "messages_you_typed_that_answered_nothing": [_row(n, "text", "status", "taken_for", "received_at") for n in
                                                     session.scalars(select(TypedNote).where(
                                                         TypedNote.person_id == person.id).order_by(TypedNote.id))],
    }


def _deliveries_naming(session: Session, person: Person) -> list[Delivery]:
    """Messages to or about the person: the database finds those whose stored JSON holds one of
    their identifiers (as JSON writes it), rather than every message being read here."""
    needles = [json.dumps(i)[1:-1] for i in _identifiers(person)]
    stored = cast(Delivery.recipient, Text) + cast(Delivery.message, Text)
    return list(session.scalars(select(Delivery).where(or_(*(stored.contains(n, autoescape=True) for n in needles)))
                                .order_by(Delivery.id)))


def _question(survey: str, item: str) -> str:
    try:
        return get_survey(survey).item(item).text
    except KeyError:
        return item


def _identifiers(person: Person) -> list[str]:
    found = [person.name, address_of(person).key(), person.user_id]
    if person.email:
        found.append(person.email)
    return [f for f in found if f and len(f) >= 3]


def _redact(text: str, identifiers: list[str]) -> str:
    for identifier in sorted(identifiers, key=len, reverse=True):
        text = text.replace(identifier, ERASED)
    return text


def _audit_about(session: Session, person: Person) -> list[AuditEntry]:
    identifiers = _identifiers(person)
    return [e for e in session.scalars(select(AuditEntry).where(AuditEntry.organisation_id == person.organisation_id)
                                       .order_by(AuditEntry.id))
            if any(i in e.actor or i in e.detail for i in identifiers)]


def _count(session: Session, cohort_id: int, measure: str, amount: int) -> None:
    if amount:
        session.add(ErasedCount(cohort_id=cohort_id, measure=measure, count=amount))


def erase(session: Session, person: Person, now: datetime) -> dict[str, int]:
    """Remove `person`'s personal data from every table; returns how many records of each kind went."""
    identifiers = _identifiers(person)
    address = address_of(person).key()
    participations = list(session.scalars(select(Participant).where(Participant.person_id == person.id)).unique())
    ids = [p.id for p in participations]
    removed: dict[str, int] = {}

    # What the programme counts survives as anonymous counts, per cohort.
    for participant in participations:
        answered = set(session.scalars(select(SurveyResponse.survey).where(
            SurveyResponse.participant_id == participant.id)))
        for survey in answered:
            _count(session, participant.cohort_id, f"survey:{survey}:answered", 1)
        for meeting_id in session.scalars(select(Rsvp.meeting_id).where(Rsvp.participant_id == participant.id,
                                                                        Rsvp.answer == "yes")):
            _count(session, participant.cohort_id, f"workshop:{meeting_id}:accepted", 1)

    for name, model, column in (("survey answers", SurveyResponse, SurveyResponse.participant_id),
                                ("reflections", Reflection, Reflection.participant_id),
                                ("prompts", Prompt, Prompt.participant_id),
                                ("workshop replies", Rsvp, Rsvp.participant_id),
                                ("calendar invitations", CalendarInvitation, CalendarInvitation.participant_id)):
        removed[name] = session.execute(delete(model).where(column.in_(ids))).rowcount if ids else 0
    removed["roles"] = session.execute(delete(RoleGrant).where(RoleGrant.person_id == person.id)).rowcount
    removed["typed notes"] = session.execute(delete(TypedNote).where(TypedNote.person_id == person.id)).rowcount
    session.execute(update(Meeting).where(Meeting.proposer_id.in_(ids)).values(proposer_id=None))
    contracts = list(session.scalars(select(Contract).where(Contract.completed_by.in_(ids)))) if ids else []
    for contract in contracts:  # written by them: it is theirs to take away
        contract.goals, contract.shadowing_plan, contract.completed_by = "", "", None

    # Messages: those to them go; others that name them are redacted.
    gone = 0
    for delivery in _deliveries_naming(session, person):
        if address in delivery.recipient.get("members", []):
            session.delete(delivery)
            gone += 1
            continue
        text = json.dumps(delivery.message)
        if any(i in text for i in identifiers):
            delivery.message = json.loads(_redact(text, [json.dumps(i)[1:-1] for i in identifiers]))
    removed["messages"] = gone
    removed["conversations"] = 0
    for conversation in list(session.scalars(select(Conversation).where(Conversation.members_key.contains(address)))):
        session.delete(conversation)
        removed["conversations"] += 1
    for entry in _audit_about(session, person):
        entry.actor, entry.detail = _redact(entry.actor, identifiers), _redact(entry.detail, identifiers)
    for pending in session.scalars(select(PendingImport)):
        kept = [row for row in pending.rows if row["profile"]["address"] != address]
        if len(kept) != len(pending.rows):
            pending.rows = kept
    pair_ids = list(session.scalars(select(PairMember.pair_id).where(PairMember.participant_id.in_(ids)))) if ids else []
    for pair in session.scalars(select(Pair).where(Pair.id.in_(pair_ids))) if pair_ids else []:
        if any(i in pair.rationale for i in identifiers):
            pair.rationale = _redact(pair.rationale, identifiers)

    for participant in participations:
        participant.profession = participant.site = participant.department = participant.grade = ""
        participant.rota = participant.line_manager = ""
        participant.availability, participant.goals, participant.requests = [], [], []
        participant.rota_plan = None  # shifts, leave and rotation date
        participant.status, participant.paused_until = "erased", None
    person.name, person.email, person.timezone, person.reachable = ERASED_NAME, None, "Europe/London", False
    person.user_id = f"erased-{uuid.uuid4().hex[:12]}"
    session.add(AuditEntry(organisation_id=person.organisation_id, actor=ERASED_NAME, action="forget-me",
                           detail="personal data erased at the person's request", at=now))
    session.flush()
    return removed
