"""Pairing commands: propose pairs by matching, confirm them, and change them by hand (swap,
manual, break, exclude). Every reply says what happens to each person touched."""

from __future__ import annotations

from itertools import combinations

from sqlalchemy import select

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot import matching
from bot import invitations
from bot.commands.common import (
    Call, CommandSpec, Refusal, current_pair, done, find_cohort, find_pair, find_participant, need, options,
    pair_label, whole_number,
)
from bot.context import active_members, names
from bot.flows import intro
from bot.flows.base import StepInfo
from bot.messages import Message
from bot.models import Cohort, Pair, PairMember, Participant, Person, StepRun
from bot.programme import Programme

DEPARTMENT_MODES = ("same", "different", "any")
DEFAULT_INTRO = "Hello {first_name}! For {cohort} you are paired with {buddy_names}. Say hello and find a time to meet."


def _matching():
    """bot.matching, imported when pairs are made: numpy and scipy need not load in every process
    that imports the commands (the delivery worker, the console)."""
    from bot import matching

    return matching


# --- what matching works from ------------------------------------------------------------------------
def _emails(call: Call) -> dict[str, int]:
    rows = call.session.execute(select(Person.email, Person.id).where(
        Person.organisation_id == call.organisation_id, Person.email.is_not(None)))
    return {email.lower(): pid for email, pid in rows}


def _candidate(member: Participant, by_email: dict[str, int]) -> matching.Candidate:
    matching = _matching()
    return matching.Candidate(
        id=member.person_id, role=member.role, name=member.person.name, profession=member.profession,
        site=member.site, department=member.department, grade=member.grade,
        goals=frozenset(member.goals or ()), line_manager=by_email.get((member.line_manager or "").lower()),
        requests=frozenset(by_email[e] for e in member.requests or () if e in by_email))


def _rules(call: Call, cohort: Cohort, leaving: set[int] = frozenset()) -> matching.Rules:
    """Exclusions the coordinator set, and everyone who was ever buddied with someone (in earlier
    cohorts, or in a pair of this cohort that has ended)."""
    matching = _matching()
    exclusions = frozenset(frozenset(pair) for pair in cohort.settings.get("exclusions", []))
    earlier = set()
    pairs = call.session.scalars(
        select(Pair).join(Cohort, Cohort.id == Pair.cohort_id)
        .where(Cohort.organisation_id == call.organisation_id, Pair.status.in_(("active", "broken")),
               Pair.introduced_at.is_not(None)))
    for pair in pairs:
        if pair.cohort_id == cohort.id and (pair.status == "active" or pair.id in leaving):
            continue  # the pair being changed is not an "earlier" buddy of its own members
        people = [m.participant.person_id for m in pair.members]
        earlier.update(frozenset(two) for two in combinations(people, 2))
    return matching.Rules(exclusions=exclusions, earlier=frozenset(earlier))


def _weights(cohort: Cohort) -> matching.Weights:
    matching = _matching()
    return matching.Weights(department_mode=cohort.settings.get("department_mode", "different"))


def _check_group(call: Call, cohort: Cohort, members: list[Participant], leaving: set[int] = frozenset()) -> None:
    matching = _matching()
    by_email = _emails(call)
    rules = _rules(call, cohort, leaving)
    candidates = [_candidate(m, by_email) for m in members]
    for a, b in combinations(candidates, 2):
        rule = matching.breaks_rule(a, b, rules)
        if rule is not None:
            raise Refusal(f"{a.name} and {b.name} cannot be paired: {_rule_words(rule)}.")


def _rule_words(rule: str) -> str:
    return {"line manager": "one is the other's line manager",
            "exclusion": "you asked to keep them apart ('pair exclude')",
            "earlier buddy": "they were buddies before"}.get(rule, rule)


def unpaired(call: Call, cohort: Cohort) -> list[Participant]:
    paired = select(PairMember.participant_id).join(Pair, Pair.id == PairMember.pair_id).where(
        Pair.cohort_id == cohort.id, Pair.status == "active")
    return list(call.session.scalars(
        select(Participant).where(Participant.cohort_id == cohort.id, Participant.status == "active",
                                  Participant.id.not_in(paired)).order_by(Participant.id)).unique())


# --- introductions -----------------------------------------------------------------------------------
def _intro_step(call: Call, cohort: Cohort) -> tuple[StepInfo | None, bool]:
    """The programme's introduction step, and whether it has run (then new pairs are introduced now)."""
    programme = Programme.from_dict(cohort.programme)
    steps = programme.steps_for("pair_intro")
    if not steps:
        return StepInfo(cohort.id, "pair-intro", "pair_intro", DEFAULT_INTRO, {}, 0), True
    step = steps[0]
    ran = call.session.get(StepRun, (cohort.id, step.id)) is not None
    return StepInfo(cohort.id, step.id, step.intent, step.text, step.params, step.week), ran


def _introduce(call: Call, cohort: Cohort, pairs: list[Pair]) -> str:
    """Introduce new pairs now if the programme's introduction has already gone out; else they
    are introduced with everyone else at that step."""
    if not pairs:
        return ""
    step, ran = _intro_step(call, cohort)
    if ran and cohort.status in ("running", "paused"):
        for pair in pairs:
            intro.introduce(call.ctx, cohort, pair, step)
        return " They have been introduced to each other now."
    return f" They will be introduced at the programme's '{step.step_id}' step (week {step.week})."


def _tell_ended(call: Call, cohort: Cohort, pair: Pair, why: str) -> list[Participant]:
    members = active_members(pair)
    invitations.pair_ended(call.ctx, pair, "Your pairing has ended.")  # its meetings still to come are off
    if pair.introduced_at is not None:
        for member in members:
            call.ctx.send_to(member, Message(f"{why} Your coordinator will be in touch about what comes next.",
                                             intent="pair_changed"),
                             f"pair:{pair.id}:ended:to:{member.id}", cohort.id)
    return members


def _new_pair(call: Call, cohort: Cohort, members: list[Participant], status: str, rationale: str) -> Pair:
    pair = Pair(cohort_id=cohort.id, status=status, proposals_made=0, rationale=rationale, created_at=call.ctx.now)
    pair.members = [PairMember(participant_id=m.id) for m in members]
    call.session.add(pair)
    call.session.flush()
    return pair


# --- commands ----------------------------------------------------------------------------------------
def _propose(call: Call) -> Message:
    matching = _matching()
    words, opts = options(call.args, ("department", "seed"))
    cohort = find_cohort(call, " ".join(words) or None)
    if "department" in opts:
        if opts["department"] not in DEPARTMENT_MODES:
            raise Refusal(f"--department is one of {', '.join(DEPARTMENT_MODES)}.")
        cohort.settings = {**cohort.settings, "department_mode": opts["department"]}
    if "seed" in opts:
        seed = whole_number(opts["seed"], "--seed", 0, 2**32 - 1)  # numpy's seeds are 32-bit
        cohort.settings = {**cohort.settings, "seed": seed}
    for old in call.session.scalars(select(Pair).where(Pair.cohort_id == cohort.id, Pair.status == "proposed")):
        call.session.delete(old)
    call.session.flush()
    people = unpaired(call, cohort)
    if len(people) < 2:
        raise Refusal(f"{cohort.name} has {len(people)} unpaired {'person' if len(people) == 1 else 'people'}; "
                      f"there is nobody to pair. Enrol people first.")
    by_email = _emails(call)
    by_person = {m.person_id: m for m in people}
    result = matching.match([_candidate(m, by_email) for m in people], _rules(call, cohort), _weights(cohort),
                            seed=int(cohort.settings.get("seed", 0)))
    lines = []
    for group in result.groups:
        members = [by_person[i] for i in group.members]
        pair = _new_pair(call, cohort, members, "proposed", group.rationale)
        who = " & ".join(f"{m.person.name} ({m.role})" for m in members)
        lines.append(f"• #{pair.id} {who}: {group.rationale}")
    for left in result.unplaced:
        lines.append(f"• {by_person[left.id].person.name} is not paired: {left.reason}. Use 'pair manual' "
                     f"once you have found them a buddy.")
    sizes = [len(g.members) for g in result.groups]
    summary = f"{sizes.count(2)} pairs" + "".join(
        f" and {sizes.count(n)} group{'s' if sizes.count(n) != 1 else ''} of {n}" for n in (3, 4) if sizes.count(n))
    call.audit("pair", f"proposed {summary} in {cohort.name} (seed {cohort.settings.get('seed', 0)})")
    return Message(f"Proposed {summary} for {cohort.name} (department preference: "
                   f"{_weights(cohort).department_mode}):\n" + "\n".join(lines) +
                   "\nNothing is sent yet. 'pair confirm' introduces them; change them first with 'pair swap A B', "
                   "'pair manual A B', or 'pair exclude A B' and 'pair' again.", intent="pairs_proposed")


def _confirm(call: Call) -> Message:
    cohort = find_cohort(call, " ".join(call.args) or None)
    proposed = list(call.session.scalars(select(Pair).where(Pair.cohort_id == cohort.id,
                                                            Pair.status == "proposed").order_by(Pair.id)))
    if not proposed:
        raise Refusal(f"There are no proposed pairs in {cohort.name}: run 'pair' first.")
    for pair in proposed:
        pair.status = "active"
    call.session.flush()
    text = f"Confirmed {len(proposed)} pairs and groups in {cohort.name}." + _introduce(call, cohort, proposed)
    call.audit("pair confirm", f"{len(proposed)} in {cohort.name}: " + ", ".join(f"#{p.id}" for p in proposed))
    return done(text)


def _swap(call: Call) -> Message:
    need(call.args, 2, "pair swap PERSON PERSON (each moves into the other's pair)")
    cohort = find_cohort(call, " ".join(call.args[2:]) or None)
    a = find_participant(call, cohort, call.args[0])
    b = find_participant(call, cohort, call.args[1])
    pa, pb = current_pair(call, a, ("active", "proposed")), current_pair(call, b, ("active", "proposed"))
    for who, pair in ((a, pa), (b, pb)):
        if pair is None:
            raise Refusal(f"{who.person.name} is not in a pair; use 'pair manual' to pair them.")
    if pa.id == pb.id:
        raise Refusal(f"{a.person.name} and {b.person.name} are in the same pair already.")
    group_a = [m.participant for m in pa.members if m.participant_id != a.id] + [b]
    group_b = [m.participant for m in pb.members if m.participant_id != b.id] + [a]
    _check_group(call, cohort, group_a, {pa.id, pb.id})
    _check_group(call, cohort, group_b, {pa.id, pb.id})
    status = "active" if "active" in (pa.status, pb.status) else "proposed"
    for old in (pa, pb):
        if old.status == "active":
            old.status = "broken"
            _tell_ended(call, cohort, old, "Your coordinator has changed the pairs.")
        else:
            call.session.delete(old)
    call.session.flush()
    new = [_new_pair(call, cohort, g, status, "changed by a coordinator") for g in (group_a, group_b)]
    text = (f"{b.person.name} is now with {names([m for m in group_a if m is not b])} (#{new[0].id}); "
            f"{a.person.name} is now with {names([m for m in group_b if m is not a])} (#{new[1].id}).")
    text += _introduce(call, cohort, new) if status == "active" else " Both are still proposals: 'pair confirm' introduces them."
    call.audit("pair swap", f"{a.person.name} and {b.person.name} in {cohort.name}: #{pa.id}, #{pb.id} -> "
                            f"#{new[0].id}, #{new[1].id}")
    return done(text)


def _manual(call: Call) -> Message:
    words, opts = options(call.args, ("cohort",))
    if not 2 <= len(words) <= 4:
        raise Refusal("Usage: pair manual PERSON PERSON [PERSON] [PERSON] (a pair, or a group of up to four)")
    cohort = find_cohort(call, opts.get("cohort"))
    members = [find_participant(call, cohort, w) for w in words]
    if len({m.id for m in members}) != len(members):
        raise Refusal("The same person is named twice.")
    for member in members:
        if member.status != "active":
            raise Refusal(f"{member.person.name} is {member.status}; resume them first.")
        pair = current_pair(call, member, ("active", "proposed"))
        if pair is not None:
            raise Refusal(f"{member.person.name} is already in {pair_label(pair)} ({pair.status}): use 'pair swap' "
                          f"or 'pair break' first.")
    _check_group(call, cohort, members)
    pair = _new_pair(call, cohort, members, "active", "paired by a coordinator")
    text = f"Paired {names(members)} (#{pair.id})." + _introduce(call, cohort, [pair])
    call.audit("pair manual", f"#{pair.id} {', '.join(m.person.name for m in members)} in {cohort.name}")
    return done(text)


def _break(call: Call) -> Message:
    words, opts = options(call.args, ("cohort",))
    need(words, 1, "pair break PAIR (#number, or any member)")
    cohort = find_cohort(call, opts.get("cohort"))
    pair = find_pair(call, cohort, words[0])
    label = pair_label(pair)
    members = [m.participant for m in pair.members]
    if pair.status == "proposed":
        call.session.delete(pair)
        text = f"Dropped the proposal {label}. Nobody was told; they are unpaired."
    else:
        pair.status = "broken"
        told = _tell_ended(call, cohort, pair, "Your pairing has ended.")
        text = (f"Ended {label}. " + " ".join(
            f"{m.person.name} is now without a buddy{' and has been told' if m in told and pair.introduced_at else ''}."
            for m in members) + " Pair them again with 'pair manual', or run 'pair' to propose new buddies;"
            " they will not be paired with each other again.")
    call.audit("pair break", f"{label} in {cohort.name}")
    return done(text)


def _exclude(call: Call) -> Message:
    words, opts = options(call.args, ("cohort",))
    need(words, 2, "pair exclude PERSON PERSON (never pair these two)")
    cohort = find_cohort(call, opts.get("cohort"))
    a, b = (find_participant(call, cohort, w) for w in words[:2])
    if a.id == b.id:
        raise Refusal("Name two different people.")
    pair = sorted((a.person_id, b.person_id))
    exclusions = [list(x) for x in cohort.settings.get("exclusions", [])]
    if pair in exclusions:
        return Message(f"{a.person.name} and {b.person.name} are already kept apart.", intent="status")
    cohort.settings = {**cohort.settings, "exclusions": exclusions + [pair]}
    call.audit("pair exclude", f"{a.person.name} and {b.person.name} in {cohort.name}")
    together = current_pair(call, a, ("active", "proposed"))
    text = f"{a.person.name} and {b.person.name} will not be paired together."
    if together is not None and b.id in {m.participant_id for m in together.members}:
        text += f" They are together in {pair_label(together)} now: use 'pair break' or 'pair swap' to change that."
    return done(text)


COMMANDS = (
    CommandSpec("pair", ("coordinator",), "propose pairs for everyone unpaired, with the reason for each",
                "pair [--department same|different|any] [--seed 7]", _propose),
    CommandSpec("pair confirm", ("coordinator",), "confirm the proposed pairs and introduce them", "pair confirm",
                _confirm),
    CommandSpec("pair swap", ("coordinator",), "swap two people between their pairs", "pair swap @asha @carl",
                _swap),
    CommandSpec("pair manual", ("coordinator",), "pair (or group) people yourself", "pair manual @asha @ben",
                _manual),
    CommandSpec("pair break", ("coordinator",), "end a pair (#number or a member)", "pair break #12", _break),
    CommandSpec("pair exclude", ("coordinator",), "never pair two people together", "pair exclude @asha @ben",
                _exclude),
)
