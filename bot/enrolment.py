"""Creating organisations, cohorts, participants and pairs (used by the coordinator commands, the
demo and the tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.events import Address
from bot.models import Cohort, Organisation, Pair, PairMember, Participant, Person, RoleGrant
from bot.programme import Programme

ROLES = ("clinician", "manager", "other")


@dataclass(frozen=True)
class Enrolee:
    address: Address
    name: str
    role: str
    profession: str = ""
    site: str = ""
    department: str = ""
    grade: str = ""
    rota: str = ""  # in words; the rota itself is `rota_plan` (bot/rota.py)
    rota_plan: dict | None = None
    email: str | None = None
    timezone: str = "Europe/London"
    availability: list = field(default_factory=list)
    goals: list = field(default_factory=list)
    line_manager: str = ""
    requests: list = field(default_factory=list)


def organisation(session: Session, platform: str, workspace: str, name: str, now: datetime) -> Organisation:
    org = session.scalars(select(Organisation).where(Organisation.platform == platform,
                                                     Organisation.workspace == workspace)).first()
    if org is None:
        org = Organisation(name=name, platform=platform, workspace=workspace, created_at=now)
        session.add(org)
        session.flush()
    return org


def person(session: Session, org: Organisation, address: Address, name: str, now: datetime,
           email: str | None = None, timezone: str = "Europe/London") -> Person:
    found = session.scalars(select(Person).where(Person.platform == address.platform,
                                                 Person.workspace == address.workspace,
                                                 Person.user_id == address.user)).first()
    if found is None:
        found = Person(organisation_id=org.id, platform=address.platform, workspace=address.workspace,
                       user_id=address.user, name=name, email=email, timezone=timezone, reachable=True,
                       created_at=now)
        session.add(found)
        session.flush()
    return found


def grant(session: Session, org: Organisation, who: Person, role: str, now: datetime) -> bool:
    """Give `who` a role in the organisation; False if they had it already."""
    exists = session.scalars(select(RoleGrant).where(RoleGrant.organisation_id == org.id,
                                                     RoleGrant.person_id == who.id, RoleGrant.role == role)).first()
    if exists is None:
        session.add(RoleGrant(organisation_id=org.id, person_id=who.id, role=role, granted_at=now))
        session.flush()
        return True
    return False


def create_cohort(session: Session, org: Organisation, name: str, start: date, programme: Programme,
                  timezone: str, now: datetime) -> Cohort:
    cohort = Cohort(organisation_id=org.id, name=name, start_date=start, timezone=timezone,
                    programme=programme.to_dict(), status="draft", created_at=now)
    session.add(cohort)
    session.flush()
    return cohort


def enrol(session: Session, cohort: Cohort, org: Organisation, enrolee: Enrolee, now: datetime) -> Participant:
    if enrolee.role not in ROLES:
        raise ValueError(f"role '{enrolee.role}' is not one of {', '.join(ROLES)}")
    who = person(session, org, enrolee.address, enrolee.name, now, enrolee.email, enrolee.timezone)
    participant = Participant(cohort_id=cohort.id, person_id=who.id, role=enrolee.role,
                              profession=enrolee.profession, site=enrolee.site, department=enrolee.department,
                              grade=enrolee.grade, rota=enrolee.rota, rota_plan=enrolee.rota_plan,
                              availability=list(enrolee.availability),
                              goals=list(enrolee.goals), line_manager=enrolee.line_manager,
                              requests=list(enrolee.requests),
                              status="active", created_at=now)
    session.add(participant)
    session.flush()
    return participant


def make_pair(session: Session, cohort: Cohort, members: list[Participant], now: datetime) -> Pair:
    if not 2 <= len(members) <= 4:
        raise ValueError("a pair or group has 2 to 4 members")
    pair = Pair(cohort_id=cohort.id, status="active", proposals_made=0, created_at=now)
    pair.members = [PairMember(participant_id=m.id) for m in members]
    session.add(pair)
    session.flush()
    return pair
