"""Coordinator commands through the core, as a coordinator, a facilitator and a participant would
send them (the adapter's directory look-up is played by `Org.command`)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from bot import enrolment, migrate
from bot.capabilities import GROUP_CONVERSATION, Capabilities
from bot.clock import ManualClock
from bot.core import Pairbot
from bot.db import Database
from bot.events import Address, Command, Profile, Upload
from bot.models import AuditEntry, Cohort, Delivery, Pair, Participant, PendingImport, RoleGrant, StepRun
from bot.messages import Message

PLATFORM = "slack"
WORKSPACE = "T1"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


class Org:
    """An organisation with a coordinator (rita), a facilitator (fran), a draft cohort and a
    directory of people who can be named by @mention or email."""

    def __init__(self, url: str):
        self.db = Database(url)
        migrate.upgrade(self.db.engine)
        self.clock = ManualClock(NOW)
        self.core = Pairbot(self.db, self.clock, Capabilities({PLATFORM: frozenset({GROUP_CONVERSATION})}))
        self.directory: dict[str, Profile] = {}
        for user, name in (("rita", "Rita Coordinator"), ("fran", "Fran Facilitator"), ("asha", "Dr Asha Patel"),
                           ("ben", "Ben Okafor"), ("carl", "Dr Carl Jones"), ("dana", "Dana Smith"),
                           ("eve", "Eve Brown"), ("omar", "Omar Ali")):
            self.add_person(user, name)
        with self.db.session() as s:
            org = enrolment.organisation(s, PLATFORM, WORKSPACE, "Test Trust", NOW)
            for user, role in (("rita", "coordinator"), ("fran", "facilitator")):
                p = self.directory[f"@{user}"]
                who = enrolment.person(s, org, p.address, p.name, NOW, p.email)
                enrolment.grant(s, org, who, role, NOW)

    def add_person(self, user: str, name: str) -> None:
        profile = Profile(f"@{user}", Address(PLATFORM, WORKSPACE, user.upper()), name, f"{user}@trust.example")
        self.directory[f"@{user}"] = profile
        self.directory[profile.email] = Profile(profile.email, profile.address, name, profile.email)

    def command(self, who: str, text: str, uploads: tuple[Upload, ...] = ()) -> Message:
        """What an adapter does: look up every @mention and email (in the text and any CSV)."""
        words = text.split() + [w for u in uploads for w in u.text.replace(",", " ").split()]
        people = tuple(self.directory[w] for w in dict.fromkeys(words) if w in self.directory)
        unknown = tuple(w for w in words if (w.startswith("@") or "@" in w) and w not in self.directory)
        event = Command(self.directory[f"@{who}"].address, text, people=people, unknown=unknown, uploads=uploads)
        replies = self.core.handle(event)
        assert len(replies) == 1
        return replies[0]

    def ok(self, who: str, text: str, uploads: tuple[Upload, ...] = ()) -> str:
        reply = self.command(who, text, uploads)
        assert reply.intent not in ("error", "refused"), reply.text
        return reply.text

    def count(self, model, *where) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where))

    def cohort(self, name: str = "Spring 2027") -> Cohort:
        with self.db.session() as s:
            return s.scalars(select(Cohort).where(Cohort.name == name)).one()

    def sent_to(self, user: str) -> list[Message]:
        address = self.directory[f"@{user}"].address.key()
        with self.db.session() as s:
            rows = s.scalars(select(Delivery).order_by(Delivery.id)).all()
            return [Message.from_dict(d.message) for d in rows if address in d.recipient["members"]]

    def audit(self) -> list[AuditEntry]:
        with self.db.session() as s:
            return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))

    def pairs(self, status: str = "active") -> list[set[str]]:
        with self.db.session() as s:
            found = s.scalars(select(Pair).where(Pair.status == status).order_by(Pair.id)).all()
            return [{m.participant.person.user_id.lower() for m in p.members} for p in found]


@pytest.fixture
def org(database_url):
    return Org(database_url)


def enrol_four(org: Org) -> None:
    org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04")
    org.ok("rita", "enrol @asha clinician profession=\"Junior doctor\" site=North department=ED grade=ST4 goals=budgets")
    org.ok("rita", "enrol @ben manager site=North department=Finance grade=\"Band 8a\" goals=budgets,rotas")
    org.ok("rita", "enrol @carl clinician site=South department=Surgery grade=FY2")
    org.ok("rita", "enrol @dana manager site=South department=Estates band=\"Band 7\"")


# --- roles and refusals -------------------------------------------------------------------------
CHANGING = ["cohort create X --start 2027-01-04", "enrol @eve clinician", "import", "import confirm 1",
            "remove @asha", "pair", "pair confirm", "pair swap @asha @carl", "pair manual @asha @ben",
            "pair break @asha", "pair exclude @asha @ben", "start", "pause", "resume", "nudge @asha",
            "timeline shift 1", "export", "coordinator add @eve", "coordinator remove @rita",
            "facilitator add @eve", "facilitator remove @fran", "workshop set launch-workshop 2027-01-08 13:00"]


@pytest.mark.parametrize("who", ["fran", "asha"])
def test_people_without_the_role_are_refused_politely_and_nothing_changes(org, who):
    enrol_four(org)
    before = (org.count(AuditEntry), org.count(Participant), org.count(Pair), org.count(RoleGrant),
              org.count(Delivery), org.cohort().status, org.cohort().start_date)
    for text in CHANGING:
        reply = org.command(who, text)
        assert reply.intent == "refused", (text, reply.text)
        assert "for coordinators" in reply.text and reply.text.startswith("Sorry")
    after = (org.count(AuditEntry), org.count(Participant), org.count(Pair), org.count(RoleGrant),
             org.count(Delivery), org.cohort().status, org.cohort().start_date)
    assert after == before


def test_facilitators_can_read_status_and_cohorts_but_participants_cannot(org):
    enrol_four(org)
    assert "Spring 2027" in org.ok("fran", "status")
    assert "Spring 2027: draft" in org.ok("fran", "cohort list")
    assert org.command("asha", "status").intent == "refused"
    assert org.command("asha", "cohort show").intent == "refused"


def test_help_lists_what_each_role_can_do_with_examples(org):
    coordinator = org.ok("rita", "help")
    facilitator = org.ok("fran", "help")
    assert "pair swap @asha @carl" in coordinator and "cohort create" in coordinator
    assert "status" in facilitator and "pair swap" not in facilitator and "enrol" not in facilitator


def test_a_mistyped_command_gets_the_nearest_suggestion(org):
    assert "Did you mean 'pair confirm'?" in org.command("rita", "pair confrim").text
    assert "Did you mean 'status'?" in org.command("rita", "stauts").text
    assert "quotation mark" in org.command("rita", 'cohort create "Spring --start 2027-01-04').text


def test_every_change_is_in_the_audit_log_with_who_what_and_when(org):
    enrol_four(org)
    entries = org.audit()
    assert [e.action for e in entries] == ["cohort create", "enrol", "enrol", "enrol", "enrol"]
    assert all(e.actor.startswith("Rita Coordinator") and e.at == NOW for e in entries)
    assert "Dr Asha Patel" in entries[1].detail and "Spring 2027" in entries[1].detail


# --- cohorts ------------------------------------------------------------------------------------
def test_cohort_create_list_and_show(org):
    text = org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04 --timezone Europe/London")
    assert "Created Spring 2027" in text and "draft" in text
    assert org.cohort().start_date == date(2027, 1, 4) and org.cohort().status == "draft"
    assert "Spring 2027: draft, starts 4 Jan 2027, 0 people" in org.ok("rita", "cohort list")
    shown = org.ok("rita", "cohort show Spring 2027")
    assert "Programme:" in shown and "0 done" in shown


@pytest.mark.parametrize("text, problem", [
    ("cohort create Autumn", "Usage: cohort create NAME --start"),
    ("cohort create Autumn --start 04/01/2027", "'04/01/2027' is not a start date"),
    ("cohort create Autumn --start 2027-01-04 --timezone Mars/Base", "'Mars/Base' is not a time zone"),
    ("cohort create Autumn --start 2027-01-04 --colour blue", "'--colour' is not an option"),
    ("cohort create Autumn --start 2027-01-04 --programme mine.toml", "Attach the programme file 'mine.toml'"),
])
def test_cohort_create_names_what_is_wrong_and_creates_nothing(org, text, problem):
    reply = org.command("rita", text)
    assert reply.intent == "error" and problem in reply.text
    assert org.count(Cohort) == 0 and org.count(AuditEntry) == 0


def test_a_cohort_name_is_taken_once(org):
    org.ok("rita", "cohort create Spring --start 2027-01-04")
    assert "already a cohort called 'Spring'" in org.command("rita", "cohort create spring --start 2027-02-01").text


def test_an_attached_programme_file_is_checked_before_the_cohort_exists(org):
    bad = Upload("short.toml", "[programme]\nname = 'Short'\n[[steps]]\nid = 'x'\nweek = 'soon'\n")
    reply = org.command("rita", "cohort create Short --start 2027-01-04 --programme short.toml", (bad,))
    assert reply.intent == "error" and "problems" in reply.text and org.count(Cohort) == 0


# --- enrolment and CSV import -------------------------------------------------------------------
def test_enrol_records_matching_details_and_names_bad_ones(org):
    enrol_four(org)
    reply = org.command("rita", "enrol @eve clinician availability=\"Funday 12:00-13:00\"")
    assert reply.intent == "error" and "'funday' is not a day of the week" in reply.text
    org.ok("rita", "enrol @eve clinician line_manager=ben@trust.example requests=dana@trust.example "
                   "availability=\"Mon 12:00-13:00\"")
    with org.db.session() as s:
        eve = s.scalars(select(Participant).where(Participant.role == "clinician")
                        .order_by(Participant.id.desc())).first()
        assert eve.line_manager == "ben@trust.example" and eve.requests == ["dana@trust.example"]
        assert eve.availability == [{"day": 0, "start": "12:00", "end": "13:00"}]
        assert s.scalars(select(Participant.grade).where(Participant.department == "Estates")).one() == "Band 7"


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_a_csv_with_bad_rows_names_each_row_and_writes_nothing_until_confirmed(org):
    org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04")
    org.ok("rita", "enrol @omar manager")
    rows = [
        {"email": "asha@trust.example", "role": "clinician", "site": "North", "band": "", "availability": "Mon 12:00-13:00"},
        {"email": "ben@trust.example", "role": "manager", "site": "North", "band": "8a", "availability": ""},
        {"email": "stranger@elsewhere.example", "role": "manager", "site": "", "band": "", "availability": ""},
        {"email": "carl@trust.example", "role": "doctor", "site": "", "band": "", "availability": ""},
        {"email": "dana@trust.example", "role": "manager", "site": "", "band": "", "availability": "Someday"},
        {"email": "asha@trust.example", "role": "clinician", "site": "", "band": "", "availability": ""},
        {"email": "omar@trust.example", "role": "manager", "site": "", "band": "", "availability": ""},
        {"email": "not-an-email", "role": "manager", "site": "", "band": "", "availability": ""},
    ]
    people_before = org.count(Participant)
    preview = org.command("rita", "import", (Upload("people.csv", csv_text(rows)),))
    assert "8 people, 2 ready to enrol" in preview.text and "Nothing is written yet" in preview.text
    assert "row 4 (stranger@elsewhere.example): stranger@elsewhere.example is not a person in this workspace" in preview.text
    assert "row 5 (carl@trust.example): role 'doctor' is not one of clinician, manager, other" in preview.text
    assert "row 6 (dana@trust.example): availability 'someday'" in preview.text
    assert "row 7 (asha@trust.example): asha@trust.example is in the file more than once" in preview.text
    assert "row 8 (omar@trust.example): Omar Ali is already enrolled" in preview.text
    assert "row 9 (not-an-email): 'not-an-email' is not an email address" in preview.text
    assert org.count(Participant) == people_before
    number = org.count(PendingImport)
    assert f"import confirm {number}" in preview.text
    assert "Enrolled 2 people" in org.ok("rita", f"import confirm {number}")
    assert org.count(Participant) == people_before + 2
    with org.db.session() as s:
        ben = s.scalars(select(Participant).where(Participant.role == "manager", Participant.grade == "8a")).one()
        assert ben.site == "North"
    again = org.command("rita", f"import confirm {number}")
    assert again.intent == "error" and org.count(Participant) == people_before + 2


@pytest.mark.parametrize("text, problem", [
    ("", "The file is empty"),
    ("email,role,shoe_size\nasha@trust.example,clinician,9\n", "columns I don't know: shoe_size"),
    ("email,site\nasha@trust.example,North\n", "no role column"),
    ("email,role\n", "header but no people"),
])
def test_a_csv_that_cannot_be_read_is_refused_as_a_whole(org, text, problem):
    org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04")
    reply = org.command("rita", "import", (Upload("people.csv", text),))
    assert reply.intent == "error" and problem in reply.text
    assert org.count(PendingImport) == 0 and org.count(Participant) == 0


def test_import_without_a_file_says_how(org):
    org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04")
    assert "Attach a CSV file" in org.command("rita", "import").text


# --- pairing ------------------------------------------------------------------------------------
def test_pair_proposes_with_reasons_and_confirm_introduces_after_the_intro_step(org):
    enrol_four(org)
    proposal = org.command("rita", "pair")
    assert proposal.intent == "pairs_proposed" and "2 pairs" in proposal.text, proposal.text
    assert "same site (North)" in proposal.text and "Nothing is sent yet" in proposal.text
    assert sorted(map(sorted, org.pairs("proposed"))) == [["asha", "ben"], ["carl", "dana"]]
    assert org.count(Delivery) == 0
    org.ok("rita", "start")
    text = org.ok("rita", "pair confirm")
    assert "Confirmed 2 pairs" in text and "introduced at the programme's" in text
    assert sorted(map(sorted, org.pairs())) == [["asha", "ben"], ["carl", "dana"]]
    # The intro step runs on its date; a pair made after it is introduced at once.
    org.core.run_step(org.cohort().id, "pairs-announced")
    assert any(m.intent == "pair_intro" for m in org.sent_to("asha"))
    org.ok("rita", "enrol @eve clinician")
    org.ok("rita", "enrol @omar manager")
    text = org.ok("rita", "pair manual @eve @omar")
    assert "introduced to each other now" in text
    assert any(m.intent == "pair_intro" for m in org.sent_to("eve"))


def test_pair_rules_line_manager_and_exclusions(org):
    org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04")
    org.ok("rita", "enrol @asha clinician line_manager=ben@trust.example site=North")
    org.ok("rita", "enrol @ben manager site=North")
    org.ok("rita", "enrol @carl clinician site=South")
    org.ok("rita", "enrol @dana manager site=South")
    refused = org.command("rita", "pair manual @asha @ben")
    assert refused.intent == "error" and "line manager" in refused.text and org.count(Pair) == 0
    org.ok("rita", "pair exclude @carl @ben")
    org.ok("rita", "pair")
    proposed = org.pairs("proposed")
    assert not any({"asha", "ben"} <= p for p in proposed) and not any({"ben", "carl"} <= p for p in proposed)


def test_swap_break_and_what_happens_to_each_member(org):
    enrol_four(org)
    org.ok("rita", "start")
    org.core.run_step(org.cohort().id, "pairs-announced")  # nobody paired yet: nothing to introduce
    org.ok("rita", "pair manual @asha @ben")
    org.ok("rita", "pair manual @carl @dana")
    text = org.ok("rita", "pair swap @asha @carl")
    assert "Dr Carl Jones is now with Ben Okafor" in text and "Dr Asha Patel is now with Dana Smith" in text
    assert sorted(map(sorted, org.pairs())) == [["asha", "dana"], ["ben", "carl"]]
    assert any(m.intent == "pair_changed" for m in org.sent_to("ben"))
    text = org.ok("rita", "pair break @asha")
    assert "Dr Asha Patel is now without a buddy" in text and "Dana Smith is now without a buddy" in text
    assert "pairing has ended" in org.sent_to("dana")[-1].text
    # They are not paired with each other again.
    refused = org.command("rita", "pair manual @asha @dana")
    assert refused.intent == "error" and "buddies before" in refused.text


def test_pair_manual_refuses_someone_already_paired(org):
    enrol_four(org)
    org.ok("rita", "pair manual @asha @ben")
    reply = org.command("rita", "pair manual @asha @dana")
    assert reply.intent == "error" and "already in #" in reply.text and "pair swap" in reply.text


# --- steering -----------------------------------------------------------------------------------
def test_start_pause_resume_and_timeline_shift(org):
    assert "no open cohort" in org.command("rita", "start").text
    org.ok("rita", "cohort create \"Spring 2027\" --start 2027-01-04")
    assert "nobody enrolled" in org.command("rita", "start").text
    org.ok("rita", "enrol @asha clinician")
    org.ok("rita", "enrol @ben manager")
    assert "1 people are not" not in org.ok("rita", "start")
    assert org.cohort().status == "running"
    assert "already running" in org.command("rita", "start").text
    org.ok("rita", "pause")
    assert org.cohort().status == "paused"
    assert org.core.run_step(org.cohort().id, "launch-workshop") is None  # a paused cohort sends nothing
    org.ok("rita", "resume")
    assert org.cohort().status == "running"
    text = org.ok("rita", "timeline shift 2")
    assert org.cohort().start_date == date(2027, 1, 18) and "Mon 18 Jan 2027" in text
    assert "Shift by 1 to 26" in org.command("rita", "timeline shift 0").text
    assert "not a whole number" in org.command("rita", "timeline shift soon").text


def test_a_person_paused_until_a_date_comes_back_by_themselves(org):
    enrol_four(org)
    org.ok("rita", "pair manual @asha @ben")
    org.ok("rita", "start")
    text = org.ok("rita", "pause @asha until 2026-12-20")
    assert "Paused Dr Asha Patel until Sun 20 Dec 2026" in text and "Ben Okafor gets no pair steps" in text
    assert "paused your programme messages" in org.sent_to("asha")[-1].text
    assert "not in the future" in org.command("rita", "pause @asha until 2026-11-01").text
    org.clock.set(datetime(2026, 12, 20, 8, 0, tzinfo=timezone.utc))
    org.core.sweep_quiet_pairs(org.cohort().id)
    with org.db.session() as s:
        asha = s.scalars(select(Participant).join(Participant.person).where(Participant.role == "clinician")
                         .order_by(Participant.id)).first()
        assert asha.status == "active" and asha.paused_until is None
    assert "Welcome back" in org.sent_to("asha")[-1].text


def test_remove_tells_the_buddy_and_leaves_a_group_of_three_intact(org):
    enrol_four(org)
    org.ok("rita", "enrol @eve clinician")
    org.ok("rita", "start")
    org.ok("rita", "pair manual @asha @ben @eve")
    org.ok("rita", "pair manual @carl @dana")
    org.core.run_step(org.cohort().id, "pairs-announced")
    text = org.ok("rita", "remove @eve")
    assert "Their group carries on as" in text and "Dr Asha Patel" in text and "Ben Okafor" in text
    text = org.ok("rita", "remove @carl")
    assert "Dana Smith is now without a buddy" in text
    assert "has left the programme" in org.sent_to("dana")[-1].text
    assert "already removed" in org.command("rita", "remove @carl").text


def test_status_nudge_and_export(org):
    enrol_four(org)
    org.ok("rita", "pair manual @asha @ben")
    org.ok("rita", "start")
    org.core.run_step(org.cohort().id, "pairs-announced")
    status = org.ok("rita", "status")
    for part in ("Pairs: 1", "Buddy meetings held: 0 of 4", "Shadowing:", "Quiet pairs", "Next:"):
        assert part in status, part
    one = org.ok("rita", "status @asha")
    assert "Dr Asha Patel" in one and "Ben Okafor" in one and "Buddy meetings held: 0 of 4" in one
    org.ok("rita", "nudge @asha")
    assert org.sent_to("asha")[-1].intent == "coordinator_nudge"
    assert "not in a pair" in org.command("rita", "nudge @carl").text
    export = org.command("rita", "export")
    assert export.document is not None and export.document.name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(export.document.content)))
    assert len(rows) == 4 and {r["name"] for r in rows} >= {"Dr Asha Patel", "Ben Okafor"}
    asha = next(r for r in rows if r["name"] == "Dr Asha Patel")
    assert asha["buddies"] == "Ben Okafor" and asha["buddy_meetings_held"] == "0" and asha["pair"].startswith("#")


def test_coordinators_and_facilitators_are_added_and_removed_but_never_the_last_coordinator(org):
    assert "now a coordinator" in org.ok("rita", "coordinator add @eve")
    assert "already a coordinator" in org.ok("rita", "coordinator add @eve")
    assert "no longer a coordinator" in org.ok("eve", "coordinator remove @rita")
    reply = org.command("eve", "coordinator remove @eve")
    assert reply.intent == "error" and "only coordinator" in reply.text
    assert "now a facilitator" in org.ok("eve", "facilitator add @omar")
    assert "no longer a facilitator" in org.ok("eve", "facilitator remove @omar")
    assert org.command("rita", "status").intent == "refused"  # rita is no longer a coordinator


def test_a_refused_command_writes_nothing_even_after_partial_work(org):
    enrol_four(org)
    org.ok("rita", "pair manual @asha @ben")
    org.ok("rita", "pair manual @carl @dana")
    org.ok("rita", "pair exclude @asha @dana")
    before = (org.pairs(), org.count(Pair), org.count(AuditEntry), org.count(Delivery))
    reply = org.command("rita", "pair swap @ben @dana")  # asha would end up with dana
    assert reply.intent == "error" and "keep them apart" in reply.text
    assert (org.pairs(), org.count(Pair), org.count(AuditEntry), org.count(Delivery)) == before


def test_unknown_people_are_named(org):
    enrol_four(org)
    reply = org.command("rita", "remove @nobody")
    assert reply.intent == "error" and "'@nobody' is not a person in this workspace" in reply.text
    assert "is not enrolled in Spring 2027" in org.command("rita", "remove @omar").text


def test_steps_run_after_start_only(org):
    enrol_four(org)
    cohort_id = org.cohort().id
    assert org.core.run_step(cohort_id, "pre-survey") is None
    org.ok("rita", "start")
    assert org.core.run_step(cohort_id, "pre-survey") == 4
    assert org.count(StepRun) == 1


def test_swap_between_proposals_stays_a_proposal(org):
    enrol_four(org)
    org.ok("rita", "pair")
    pairs = org.pairs("proposed")
    a = next(iter(pairs[0] & {"asha", "carl"}))
    b = next(iter(pairs[1] & {"asha", "carl"}))
    text = org.ok("rita", f"pair swap @{a} @{b}")
    assert "still proposals" in text and org.count(Pair, Pair.status == "active") == 0
    assert org.count(Delivery) == 0


def test_timeline_shift_back_says_which_steps_fall_due_now(org):
    enrol_four(org)
    org.ok("rita", "start")
    org.clock.set(datetime(2027, 1, 5, 9, 0, tzinfo=timezone.utc))
    text = org.ok("rita", "timeline shift -3")
    assert "now due and will go out at once" in text


def test_install_grants_the_coordinators_and_facilitators_named_in_the_config(org):
    org.core.install(PLATFORM, WORKSPACE, "Test Trust", coordinators=(org.directory["@eve"],),
                     facilitators=(org.directory["@omar"],))
    assert "There are no cohorts yet" in org.ok("eve", "cohort list")
    assert "There are no cohorts yet" in org.ok("omar", "cohort list")
    assert org.command("omar", "cohort create X --start 2027-01-04").intent == "refused"
    assert {e.action for e in org.audit()} == {"coordinator add", "facilitator add"}


def test_someone_who_adds_the_app_is_known_by_email_and_named_staff_get_their_roles(org):
    from bot.events import Profile as P

    newcomer = P("", Address("teams", "tenant-1", "29:zoe"), "Zoe Grey", "Zoe@Trust.example")
    org.core.arrived(newcomer, "Other Trust", coordinators=frozenset({"zoe@trust.example"}))
    zoe = Address("teams", "tenant-1", "29:zoe")
    reply = org.core.handle(Command(zoe, "cohort create Winter --start 2027-01-04"))[0]
    assert "Created Winter" in reply.text
    later = P("", Address("teams", "tenant-1", "29:yan"), "Yan Li", "yan@trust.example")
    org.core.arrived(later, "Other Trust", coordinators=frozenset({"zoe@trust.example"}))
    reply = org.core.handle(Command(zoe, "enrol YAN@trust.example manager"))[0]
    assert "Enrolled Yan Li in Winter" in reply.text
    assert org.core.handle(Command(later.address, "cohort list"))[0].intent == "refused"


# --- bank holidays ------------------------------------------------------------------------------
def test_bank_holidays_shows_and_sets_whose_bank_holidays_the_organisation_keeps_clear(org):
    from bot.models import Organisation

    enrol_four(org)  # Spring 2027 starts Mon 4 Jan 2027
    shown = org.ok("rita", "bank-holidays")
    assert shown.startswith("Meetings and programme steps keep clear of England's bank holidays (Pairbot's default")
    assert "Coming up: Fri 25 Dec (Christmas Day), Sat 26 Dec (Boxing Day), Mon 28 Dec (Boxing Day (substitute " \
           "day)), Fri 1 Jan (New Year's Day)." in shown
    text = org.ok("rita", "bank-holidays scotland")
    assert text.startswith("Your organisation now follows Scotland's bank holidays: no meeting is offered on one")
    # 4 January 2027 is a bank holiday in Scotland only; Easter Monday in England only.
    assert "• Spring 2027: launch-workshop now Tue 5 Jan (was Mon 4 Jan)" in text
    assert "• Spring 2027: buddy-meeting-4 now Mon 29 Mar (was Tue 30 Mar)" in text
    with org.db.session() as s:
        assert s.scalars(select(Organisation)).one().nation == "Scotland"
    assert org.audit()[-1].action == "bank-holidays" and org.audit()[-1].detail == "Scotland (was England)"
    assert "already follows Scotland's" in org.ok("rita", "bank-holidays Scotland")
    assert "Saint Andrew's Day" not in org.ok("rita", "bank-holidays")  # not within the next six months
    assert "(set for your organisation;" in org.ok("rita", "bank-holidays")


def test_bank_holidays_refuses_a_place_that_is_not_a_uk_nation_and_people_without_the_role(org):
    from bot.models import Organisation

    enrol_four(org)
    reply = org.command("rita", "bank-holidays Irland")
    assert reply.intent == "error"
    assert reply.text == "'Irland' is not a UK nation: use England, Wales, Scotland or Northern Ireland."
    assert org.command("fran", "bank-holidays Wales").intent == "refused"
    assert org.command("asha", "bank-holidays Wales").intent == "refused"
    with org.db.session() as s:
        assert s.scalars(select(Organisation)).one().nation == ""
    assert "Northern Ireland's" in org.ok("rita", "bank-holidays northern ireland")
