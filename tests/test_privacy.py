"""A participant's own data: `my-data` gives a copy of everything held about them; `forget-me`
(confirmed) leaves nothing personal about them in any table, while the cohort's counts and the
evaluation report still add up."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from bot.events import Address, Command, Said
from bot.evaluation.report import write_report
from bot.evaluation.results import cohort_results
from bot.models import AuditEntry, Base, Cohort, Participant, Person, Reflection
from test_evaluation_report import simulate

ASHA = Address("slack", "T1", "U01")  # Person 1, a clinician paired with Person 0
REFLECTION = "Shadowed the bed manager at 3am; I had no idea how hard it is."


def every_cell(core) -> str:
    """Every value of every table (ours and the timeline's), as one text to search."""
    with core.db.engine.connect() as connection:
        tables = [t.name for t in Base.metadata.sorted_tables]
        tables += [n for n in connection.dialect.get_table_names(connection) if n.startswith("apscheduler")]
        return "\n".join(repr(row) for table in tables for row in connection.execute(text(f"SELECT * FROM {table}")))


def personal_details(core) -> list[str]:
    with core.db.session() as s:
        person = s.scalars(select(Person).where(Person.user_id == ASHA.user)).one()
        return [person.name, person.email or "", ASHA.key(), ASHA.user]


def make_personal(core) -> None:
    """Person 1 has a real name and email, sets availability and is named in a coordinator alert."""
    with core.db.session() as s:
        asha = s.scalars(select(Person).where(Person.user_id == ASHA.user)).one()
        asha.name, asha.email = "Dr Asha Patel", "asha.patel@trust.example"
        participant = s.scalars(select(Participant).where(Participant.person_id == asha.id)).one()
        s.add(Reflection(participant_id=participant.id, text=REFLECTION, shared=False, created_at=asha.created_at))
    core.handle(Said(ASHA, "availability Mon 12:00-13:00"))
    core.mark_unreachable(ASHA, "left the workspace")
    core.handle(Said(ASHA, "hello again"))  # back: reachable once more


def test_my_data_gives_a_copy_of_everything_held(database_url):
    core, cohort_id = simulate(database_url)
    make_personal(core)
    reply = core.handle(Command(ASHA, "my-data"))[0]
    assert reply.document is not None and reply.document.name.endswith(".json")
    data = json.loads(reply.document.content)
    assert data["person"]["name"] == "Dr Asha Patel" and data["person"]["email"] == "asha.patel@trust.example"
    assert data["programmes"][0]["cohort"] == "Spring 2027" and data["programmes"][0]["role"] == "clinician"
    assert data["pairs"][0]["with"] == ["Person 0"]
    assert {a["survey"] for a in data["survey_answers"]} == {"pre_survey", "post_survey"}
    assert any(a["answer"] == "Seeing the night shift (person 1)" for a in data["survey_answers"])
    assert data["messages_sent_to_you"], "the survey messages sent to them"
    assert data["reflections"][0]["text"] == REFLECTION and data["reflections"][0]["shared"] is False
    # Only their own data: nobody else's answers.
    assert "person 0)" not in reply.document.content


def test_forget_me_asks_first_then_leaves_nothing_personal_in_any_table(database_url, tmp_path):
    core, cohort_id = simulate(database_url)
    make_personal(core)
    details = personal_details(core)
    secrets = details + ["Seeing the night shift (person 1)", REFLECTION]
    assert all(s in every_cell(core) for s in secrets)  # the search can find them before

    with core.db.session() as s:
        before = cohort_results(s, s.get(Cohort, cohort_id))
    asked = core.handle(Command(ASHA, "forget-me"))[0]
    assert "forget-me confirm" in asked.text and "cannot be undone" in asked.text
    assert all(s in every_cell(core) for s in secrets)  # asking alone erases nothing

    done = core.handle(Command(ASHA, "forget-me confirm"))[0]
    assert done.intent == "forgotten", done.text
    cells = every_cell(core)
    for secret in secrets:
        assert secret not in cells, f"{secret!r} is still stored"

    with core.db.session() as s:
        after = cohort_results(s, s.get(Cohort, cohort_id))
        assert s.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc())).first() == "forget-me"
    # The counts remain: still 8 pairs, the same survey completion; one fewer linked answer.
    assert after.engagement.pairs == before.engagement.pairs == 8
    assert after.engagement.survey_completion == before.engagement.survey_completion
    assert after.items[0].changes["everyone"].n == before.items[0].changes["everyone"].n - 1
    assert "Paired learning evaluation" in write_report(after, tmp_path)[0].read_text()  # the report still builds

    # They are gone: a message from the same account is a stranger's.
    assert "don't know you yet" in core.handle(Said(ASHA, "hello"))[0].text


def test_the_only_coordinator_is_asked_to_hand_over_first(database_url):
    core, _ = simulate(database_url, people=6)
    rita = Address("slack", "T1", "URITA")
    reply = core.handle(Command(rita, "forget-me confirm"))[0]
    assert reply.intent == "error" and "only coordinator" in reply.text
    assert core.handle(Command(rita, "status"))[0].intent == "status"  # nothing changed


def test_a_stranger_has_nothing_held(database_url):
    core, _ = simulate(database_url, people=6)
    stranger = Address("slack", "T1", "UNOBODY")
    assert core.handle(Command(stranger, "my-data"))[0].text == "I hold nothing about you."
    assert core.handle(Command(stranger, "forget-me confirm"))[0].text == "I hold nothing about you."
