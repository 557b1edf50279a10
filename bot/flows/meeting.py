"""Buddy meetings and shadowing visits: propose three slots, take one or offer others, then ask
afterwards whether it happened (yes / no / rescheduled).

Shadowing uses the same lifecycle; bot/flows/shadowing.py decides who hosts and whose rota counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import invitations, reach, rota
from bot.context import FlowContext, active_members, names
from bot.flows import group_meeting, reflection
from bot.flows.base import choice, choices_state, fill, split_value
from bot.messages import Message
from bot.models import Cohort, Delivery, Meeting, Pair, PairMember, Participant, Prompt
from bot.slots import FURTHER_DAYS, MIN_NOTICE, SlotMember, find_slots, format_day, format_slot

FLOW = "meeting"
MAX_ROUNDS = 3  # offers of slots before we ask the pair to arrange a time themselves
UNSCHEDULED_CHECK_AFTER = timedelta(days=7)
# A meeting still being arranged or booked: a pair has at most one per kind (and shadowing direction),
# which a unique index in the database holds (bot/models.py).
LIVE = ("proposed", "agreed", "unscheduled")
# Space left around another booking, so back-to-back slots are not offered.
CLASH_MARGIN = timedelta(minutes=30)


def _tz(participant: Participant) -> ZoneInfo:
    return ZoneInfo(participant.person.timezone)


def _what(meeting: Meeting) -> str:
    if meeting.kind == "shadowing":
        return "shadowing visit"
    return "buddy meeting"


def _which(meeting: Meeting) -> str:
    """The meeting told apart from the pair's other one of its kind: a shadowing visit by who
    shadows whom (a pair has one each way, and a question about one can meet the other's)."""
    if meeting.kind == "shadowing" and "_shadows_" in meeting.direction:
        visitor, host = meeting.direction.split("_shadows_", 1)
        return f"{_what(meeting)} (the {visitor} shadowing the {host})"
    return _what(meeting)


def propose(ctx: FlowContext, cohort: Cohort, pair: Pair, *, proposer: Participant,
            slot_members: list[Participant], kind: str, step_id: str, intro_text: str,
            direction: str = "", title: str = "") -> Meeting | None:
    """Create a meeting and offer its proposer three slots that fit `slot_members`' availability.

    A programme step replaces a proposal of the same kind that was never booked (it lapses); a booked
    meeting that has not happened yet stands, and the proposer is told so instead."""
    members = active_members(pair)
    if len(members) < 2:
        return None
    live = live_arrangement(ctx, pair, kind, direction)
    if live is not None:
        if live.status == "agreed" and live.agreed_at and live.agreed_at > ctx.now:
            when = format_slot(live.agreed_at, _tz(proposer))
            ctx.send_to(proposer, Message(f"{intro_text}\nYou already have your {_what(live)} booked for {when}, "
                                          f"so I'll leave that as it is.".strip(), intent="ack"),
                        f"meeting:{live.id}:still-booked:{step_id}:to:{proposer.id}", cohort.id)
            return live
        lapse(ctx, live)
    meeting = Meeting(cohort_id=cohort.id, pair_id=pair.id, kind=kind, direction=direction,
                      step_id=step_id, title=title, proposer_id=proposer.id, slots=[],
                      status="proposed", created_at=ctx.now)
    ctx.session.add(meeting)
    ctx.session.flush()
    _offer(ctx, meeting, proposer, slot_members, intro_text, round_number=1, via_outbox=True)
    return meeting


def _offer(ctx: FlowContext, meeting: Meeting, proposer: Participant, slot_members: list[Participant],
           intro_text: str, round_number: int, via_outbox: bool = False) -> Message:
    """Offer slots to the proposer: through the outbox from a step, or as the reply to a click."""
    duration = timedelta(minutes=ctx.options.meeting_minutes)
    earliest = ctx.now + MIN_NOTICE
    previous = [datetime.fromisoformat(s) for s in meeting.slots]
    if previous and round_number > 1:
        earliest = max(earliest, max(previous) + timedelta(days=1))
    busy = busy_times(ctx, _pair(ctx, meeting), exclude_meeting=meeting.id)
    cohort = ctx.session.get(Cohort, meeting.cohort_id)
    search = find_slots([_slot_member(ctx, m, earliest) for m in slot_members], earliest, duration,
                        exclude=set(previous), booked=busy, nation=ctx.nation(cohort.organisation_id))
    slots = search.slots
    meeting.slots = [s.isoformat() for s in slots]
    key = _offer_key(meeting, round_number, proposer)
    others = [m for m in active_members(_pair(ctx, meeting)) if m.id != proposer.id]
    why = search.why(reader=proposer.id)
    if not slots or round_number > MAX_ROUNDS:
        meeting.status = "unscheduled"
        meeting.agreed_at = None
        nothing = (f"I couldn't find a time that fits: {why}, and nothing later in the next {FURTHER_DAYS // 7} "
                   f"weeks fits either." if why and round_number <= MAX_ROUNDS
                   else "I couldn't find a time that fits everyone's stated availability.")
        text = (f"{intro_text}\n{nothing} Please "
                f"arrange one directly; I'll ask how it went in a week. You can update your times any "
                f"time by sending 'availability' and your free times.{reach.note_for(others)}").strip()
        message = Message(text, choices=(choice("We've already met", FLOW, "outcome", meeting.id, "yes"),),
                          intent=f"{meeting.kind}_unscheduled")
        if via_outbox:
            ctx.send_to(proposer, message, key, meeting.cohort_id)
        ctx.wake("meeting_check", meeting.id, ctx.now + UNSCHEDULED_CHECK_AFTER)
        return message
    if search.further:
        because = f": {why}. These are" if why else ", so these are"
        intro_text = (f"{intro_text}\nNothing fits in the next {search.search_days // 7} weeks{because} the nearest "
                      f"times that do.").strip()
    _redraw_offers(ctx, meeting, lambda _member: "These times were replaced by newer ones.", but_for=proposer.id)
    return _put_offer(ctx, meeting, proposer, intro_text, round_number, via_outbox)


def _slot_member(ctx: FlowContext, participant: Participant, earliest: datetime) -> SlotMember:
    """A member as slot-finding sees them: availability, zone, daytime and rota, over the days
    a search can reach."""
    busy = rota.busy_spans(participant, earliest - timedelta(days=2), earliest + timedelta(days=FURTHER_DAYS + 2))
    return SlotMember(key=participant.id, name=participant.person.first_name, windows=participant.availability or [],
                      tz=_tz(participant), quiet_hours=ctx.quiet_hours_of(participant.person), busy=busy)


def _put_offer(ctx: FlowContext, meeting: Meeting, member: Participant, intro_text: str, round_number: int,
               via_outbox: bool) -> Message:
    """The meeting's current slots as buttons, to one member; sent through the outbox, an offer can
    be redrawn later (when the buddy books, or it lapses)."""
    tz = _tz(member)
    others = [m for m in active_members(_pair(ctx, meeting)) if m.id != member.id]
    options = tuple(choice(format_slot(datetime.fromisoformat(s), tz), FLOW, "slot", meeting.id, round_number, i)
                    for i, s in enumerate(meeting.slots))
    options += (choice("None of these", FLOW, "others", meeting.id, round_number),)
    told = reach.reachable(others)
    text = f"{intro_text}\nWhich time suits you for your {_what(meeting)} ({ctx.options.meeting_minutes} min)?" \
           + (f" I'll let {names(told)} know." if told else "") + reach.note_for(others)
    key = _offer_key(meeting, round_number, member)
    if not via_outbox:  # a reply: the platform keeps it under its own key once posted
        key = f"{key}:reply:{ctx.now:%Y%m%dT%H%M%S%f}"
    message = Message(text.strip(), choices=options, intent=f"propose_{meeting.kind}",
                      reply_key="" if via_outbox else key)
    ctx.open_prompt(member, FLOW, meeting.id, stage="slot", round=round_number, choices=choices_state(options),
                    offer_key=key)
    if via_outbox:
        ctx.send_to(member, message, key, meeting.cohort_id)
    return message


def _offer_key(meeting: Meeting, round_number: int, member: Participant) -> str:
    return f"meeting:{meeting.id}:offer:{round_number}:to:{member.id}"


def _is_reply(offer_key: str | None) -> bool:
    """An offer given as a direct reply (its key names it so), not one the outbox sent."""
    return bool(offer_key) and ":reply:" in offer_key


def _redraw_offers(ctx: FlowContext, meeting: Meeting, note, but_for: int | None = None) -> None:
    """Offers of times still showing their buttons: redraw them with what happened (a stale tap
    would only be told anyway), then close their questions."""
    offers = [(p, (p.state or {}).get("offer_key")) for p in ctx.session.scalars(select(Prompt).where(
        Prompt.flow == FLOW, Prompt.ref_id == meeting.id, Prompt.status == "open",
        Prompt.participant_id != (but_for or 0)))]
    # A reply is redrawn only if its platform kept it (a console reply, or one only its author
    # saw in a group chat, cannot be; a stale tap on it is told what happened).
    replies = [key for _prompt, key in offers if _is_reply(key)]
    kept = set(ctx.session.scalars(select(Delivery.idempotency_key).where(Delivery.idempotency_key.in_(replies)))) \
        if replies else set()
    for prompt, key in offers:
        member = ctx.session.get(Participant, prompt.participant_id)
        if key and member is not None and (key in kept or not _is_reply(key)):
            ctx.send_to(member, Message(note(member), intent="offer_closed", replaces=key), f"{key}:closed",
                        meeting.cohort_id)
    ctx.close_prompts(FLOW, meeting.id)


def _pair(ctx: FlowContext, meeting: Meeting) -> Pair:
    return ctx.session.get(Pair, meeting.pair_id)


def live_arrangement(ctx: FlowContext, pair: Pair, kind: str, direction: str = "") -> Meeting | None:
    return ctx.session.scalars(select(Meeting).where(
        Meeting.pair_id == pair.id, Meeting.kind == kind, Meeting.direction == direction,
        Meeting.status.in_(LIVE))).first()


def lapse(ctx: FlowContext, meeting: Meeting) -> None:
    """A proposal nobody booked, or a booking nobody confirmed, gives way to the next arrangement.
    A booked one can still be confirmed afterwards ("did you meet?" stays answerable)."""
    booked_ahead = meeting.status == "agreed" and meeting.agreed_at is not None and meeting.agreed_at > ctx.now
    meeting.status = "lapsed"
    if booked_ahead:  # it is not going ahead: calendars that hold it are told
        invitations.send_cancellations(ctx, meeting, invitations.cancel(ctx, meeting),
                                       f"A newer {_what(meeting)} has taken its place.")
    if meeting.agreed_at is None:
        _redraw_offers(ctx, meeting, lambda _member: f"These times are no longer open: a newer {_what(meeting)} "
                                                     f"has taken their place.")
    ctx.session.flush()  # the unique index must see this before the next arrangement is inserted


def busy_times(ctx: FlowContext, pair: Pair, exclude_meeting: int | None = None) -> list[tuple[datetime, datetime]]:
    """When any member of the pair is already booked (any of their pairs' meetings and shadowing, and
    the cohort's workshops), widened by a margin so slots never clash or sit back to back."""
    member_ids = [m.participant_id for m in pair.members]
    pair_ids = select(PairMember.pair_id).where(PairMember.participant_id.in_(member_ids))
    booked = ctx.session.scalars(select(Meeting).where(
        Meeting.status == "agreed", Meeting.agreed_at.is_not(None), Meeting.agreed_at > ctx.now - timedelta(days=1),
        Meeting.pair_id.in_(pair_ids)))
    spans = []
    for other in booked:
        if other.id == exclude_meeting:
            continue
        length = timedelta(minutes=other.minutes or ctx.options.meeting_minutes)
        spans.append((other.agreed_at - CLASH_MARGIN, other.agreed_at + length + CLASH_MARGIN))
    cohort = ctx.session.get(Cohort, pair.cohort_id)
    for start, end in group_meeting.planned_workshops(ctx, cohort):
        if end > ctx.now - timedelta(days=1):
            spans.append((start - CLASH_MARGIN, end + CLASH_MARGIN))
    return spans


def _clashes_now(ctx: FlowContext, meeting: Meeting, slot: datetime) -> bool:
    """Whether `slot` has been taken since it was offered (another booking of a member, a workshop)."""
    length = timedelta(minutes=ctx.options.meeting_minutes)
    return any(slot < end and start < slot + length
               for start, end in busy_times(ctx, _pair(ctx, meeting), exclude_meeting=meeting.id))


def _meeting(ctx: FlowContext, meeting_id: str) -> Meeting:
    meeting = ctx.session.get(Meeting, int(meeting_id))
    if meeting is None or meeting.kind == "group":
        raise LookupError("That meeting no longer exists.")
    return meeting


def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    if verb == "slot":
        meeting_id, round_number, index = split_value(value, 3)
        return _take_slot(ctx, who, _meeting(ctx, meeting_id), int(round_number), int(index))
    if verb == "others":
        meeting_id, round_number = split_value(value, 2)
        meeting = _meeting(ctx, meeting_id)
        if meeting.status != "proposed" or int(round_number) != _current_round(ctx, meeting, who):
            return _already(meeting, who)
        pair = _pair(ctx, meeting)
        slot_members = active_members(pair)
        return _offer(ctx, meeting, who, slot_members, "No problem, here are some other times.",
                      int(round_number) + 1)
    if verb == "outcome":
        meeting_id, outcome = split_value(value, 2)
        return _record_outcome(ctx, who, _meeting(ctx, meeting_id), outcome)
    if verb == "propose":
        pair = ctx.session.get(Pair, int(value))
        if pair is None or pair.status != "active":
            raise LookupError("That pair is no longer active.")
        cohort = ctx.session.get(Cohort, pair.cohort_id)
        return suggest_times(ctx, cohort, pair, who)
    raise LookupError(f"unknown meeting action '{verb}'")


def suggest_times(ctx: FlowContext, cohort: Cohort, pair: Pair, who: Participant) -> Message:
    """"Suggest times" (after a nudge, or after a meeting that didn't happen): the pair's live
    arrangement if it has one, never a second one."""
    members = active_members(pair)
    if who.id not in {m.id for m in members} or len(members) < 2:
        raise LookupError("Your pair has no other active member right now.")
    live = live_arrangement(ctx, pair, "buddy")
    if live is not None and live.status == "agreed" and live.agreed_at and live.agreed_at > ctx.now:
        return _already(live, who)
    if live is not None and live.status == "proposed" and live.slots and \
            min(datetime.fromisoformat(s) for s in live.slots) > ctx.now + MIN_NOTICE / 2:
        # The times already offered to the buddy, offered to this member too: whoever books first
        # books for both, and the other's offer is redrawn with the booking.
        round_number = max(max(_current_round(ctx, live, m) for m in members), 1)
        if _current_round(ctx, live, who) == round_number:
            return _put_offer(ctx, live, who, "These are the times I offered:", round_number, via_outbox=False)
        _put_offer(ctx, live, who, "Let's get a meeting in the diary.", round_number, via_outbox=True)
        return Message("I've sent you some times to choose from.", intent="ack")
    if live is not None:
        live.status = "proposed"
        live.proposer_id = who.id
        return _offer(ctx, live, who, members, "Let's get a meeting in the diary.", _next_round(ctx, live))
    meeting = propose(ctx, cohort, pair, proposer=who, slot_members=members, kind="buddy", step_id="extra",
                      intro_text="Let's get a meeting in the diary.")
    if meeting is None:
        raise LookupError("Your pair has no other active member right now.")
    return Message("I've sent you some times to choose from.", intent="ack")


def _next_round(ctx: FlowContext, meeting: Meeting) -> int:
    rounds = [int(p.state.get("round", 0)) for p in ctx.session.scalars(
        select(Prompt).where(Prompt.flow == FLOW, Prompt.ref_id == meeting.id))]
    # A fresh set of offers keeps counting, so "None of these" still ends; past the limit, start again.
    following = max(rounds, default=0) + 1
    return following if following <= MAX_ROUNDS else 1


def _current_round(ctx: FlowContext, meeting: Meeting, who: Participant) -> int:
    prompt = ctx.session.scalars(
        select(Prompt).where(Prompt.flow == FLOW, Prompt.ref_id == meeting.id, Prompt.status == "open",
                             Prompt.participant_id == who.id).order_by(Prompt.id.desc())
    ).first()
    return int(prompt.state.get("round", 0)) if prompt else -1


def _already(meeting: Meeting, who: Participant) -> Message:
    """A stale or repeated tap: what is actually arranged (intent "already", so a platform redraws
    the tapped message with this, not with the choice that was tapped)."""
    tz = _tz(who)
    if meeting.status == "agreed" and meeting.agreed_at:
        return Message(f"That's already settled: your {_what(meeting)} is booked for "
                       f"{format_slot(meeting.agreed_at, tz)}.", intent="already")
    if meeting.status == "held":
        return Message(f"Already noted: your {_what(meeting)} happened. Thank you!", intent="already")
    if meeting.status in ("not_held", "unscheduled"):
        return Message(f"Already noted: that {_what(meeting)} didn't go ahead.", intent="already")
    if meeting.status == "lapsed":
        return Message(f"Those times are no longer open: a newer {_what(meeting)} has taken their place; "
                       f"please pick from the latest message.", intent="already")
    return Message("Those times have been replaced by newer ones; please pick from the latest message.",
                   intent="already")


def _take_slot(ctx: FlowContext, who: Participant, meeting: Meeting, round_number: int, index: int) -> Message:
    if meeting.status != "proposed" or round_number != _current_round(ctx, meeting, who):
        return _already(meeting, who)
    if not 0 <= index < len(meeting.slots):
        raise LookupError("That time is not one of the ones I offered.")
    slot = datetime.fromisoformat(meeting.slots[index])
    tz = _tz(who)
    if slot <= ctx.now:
        # Slots age while a message waits unanswered; offer fresh ones rather than book the past.
        pair = _pair(ctx, meeting)
        return _offer(ctx, meeting, who, active_members(pair),
                      f"Sorry, {format_slot(slot, tz)} has already passed.", round_number + 1)
    if _clashes_now(ctx, meeting, slot):
        # Two offers made at once can hold the same time; the first booked keeps it.
        return _offer(ctx, meeting, who, active_members(_pair(ctx, meeting)),
                      f"Sorry, {format_slot(slot, tz)} is no longer free: it is close to another of your "
                      f"bookings or a group meeting.", round_number + 1)
    meeting.status = "agreed"
    meeting.agreed_at = slot
    meeting.outcome_at = None  # a rebooking after "we rescheduled" awaits its own "did you meet?"
    ctx.close_prompts(FLOW, meeting.id, [who.id], status="answered")
    _redraw_offers(ctx, meeting, lambda member: f"✓ {who.person.name} booked this {_what(meeting)} for "
                                                f"{format_slot(slot, _tz(member))}.", but_for=who.id)
    members = active_members(_pair(ctx, meeting))
    others = [m for m in members if m.id != who.id]
    # Everyone gets the calendar invitation: the buddies with the news, the booker on its own.
    held = invitations.booked(ctx, meeting, members)
    for other in others:
        when = format_slot(slot, _tz(other))
        invitation = held.get(other.id)
        ctx.send_to(other, Message(f"{who.person.name} booked your {_what(meeting)} for {when} "
                                   f"({ctx.options.meeting_minutes} min). See you there!"
                                   + (f"\n{invitations.ADD_LINE}" if invitation else ""),
                                   intent=f"{meeting.kind}_booked", invitation=invitation),
                    f"meeting:{meeting.id}:booked:{round_number}:v{meeting.calendar_sequence}:to:{other.id}",
                    meeting.cohort_id)
    invitations.send_invitation(ctx, meeting, who, held.get(who.id))
    ctx.wake("meeting_check", meeting.id, slot + timedelta(minutes=ctx.options.meeting_minutes))
    told = reach.reachable(others)
    return Message(f"Booked: {format_slot(slot, tz)}. " + (f"I've told {names(told)}, and " if told else "")
                   + f"I'll check in afterwards.{reach.note_for(others)}", intent=f"{meeting.kind}_booked")


def ask_outcome(ctx: FlowContext, meeting_id: int) -> int:
    """Wake-up after the slot: ask the pair whether the meeting happened."""
    meeting = ctx.session.get(Meeting, meeting_id)
    if meeting is None or not _awaits_outcome(meeting):
        return 0
    pair = _pair(ctx, meeting)
    members = active_members(pair)
    if pair.status != "active" or len(members) < 2:
        return 0
    # A restart or a new timeline leader runs a past-due check again: ask once.
    if _asked_outcome(ctx, meeting) >= {m.id for m in members}:
        return 0
    when = f" on {format_slot(meeting.agreed_at, _tz(members[0]))}" if meeting.agreed_at else ""
    text = f"Did your {_which(meeting)}{when} happen?"
    options = (
        choice("Yes, we met", FLOW, "outcome", meeting.id, "yes"),
        choice("No", FLOW, "outcome", meeting.id, "no"),
        choice("We rescheduled", FLOW, "outcome", meeting.id, "rescheduled"),
    )
    if meeting.kind == "shadowing":
        options = (choice("Yes, it happened", FLOW, "outcome", meeting.id, "yes"),) + options[1:]
    message = Message(text, choices=options, intent="did_you_meet")
    stamp = meeting.agreed_at.isoformat() if meeting.agreed_at else "unscheduled"
    key = f"meeting:{meeting.id}:check:{stamp}"
    for member in members:
        ctx.open_prompt(member, FLOW, meeting.id, stage="outcome", choices=choices_state(options))
    if ctx.can_group(members):
        ctx.send_to_group(members, message, key, meeting.cohort_id)
        return 1
    for member in members:
        ctx.send_to(member, message, f"{key}:to:{member.id}", meeting.cohort_id)
    return len(members)


def _asked_outcome(ctx: FlowContext, meeting: Meeting) -> set[int]:
    """Participants with this meeting's "did it happen?" open."""
    prompts = ctx.session.scalars(select(Prompt).where(Prompt.flow == FLOW, Prompt.ref_id == meeting.id,
                                                       Prompt.status.in_(("open", "waiting"))))
    return {p.participant_id for p in prompts if (p.state or {}).get("stage") == "outcome"}


def _record_outcome(ctx: FlowContext, who: Participant, meeting: Meeting, outcome: str) -> Message:
    if outcome not in ("yes", "no", "rescheduled"):
        raise LookupError(f"'{outcome}' is not an answer I know")
    if not _awaits_outcome(meeting):
        return _already(meeting, who)
    if meeting.status == "lapsed" and outcome == "rescheduled":
        # A newer arrangement has taken its place: nothing to rebook here.
        outcome = "no"
    pair = _pair(ctx, meeting)
    members = active_members(pair)
    others = [m for m in members if m.id != who.id]
    ctx.close_prompts(FLOW, meeting.id, status="answered")
    meeting.outcome_at = ctx.now
    if outcome == "yes":
        meeting.status = "held"
        pair.last_met_at = ctx.now
        for member in members:
            # The date tells two pending reflections apart.
            when = f" on {format_slot(meeting.agreed_at, _tz(member))}" if meeting.agreed_at else ""
            day = f" of {format_day(meeting.agreed_at, _tz(member))}" if meeting.agreed_at else ""
            reflection.ask(ctx, member, meeting=meeting,
                           key=f"meeting:{meeting.id}:reflect:to:{member.id}",
                           question=f"How did the {_what(meeting)}{when} go? What did you notice or learn?",
                           about=f"your reflection on the {_what(meeting)}{day}")
        for other in others:
            ctx.send_to(other, Message(f"{who.person.name} told me your {_what(meeting)} happened. Well done!",
                                       intent="ack"), f"meeting:{meeting.id}:held:to:{other.id}", meeting.cohort_id)
        return Message(f"Great, noted that your {_what(meeting)} happened. I've sent you a short reflection "
                       f"prompt: only you will see what you write.", intent="ack")
    if outcome == "no":
        meeting.status = "not_held"
        options = (choice("Find new times", FLOW, "propose", pair.id),)
        ctx.open_prompt(who, FLOW, meeting.id, stage="after_no", choices=choices_state(options))
        return Message("Thanks for letting me know. Rotas get in the way; shall I find new times?",
                       choices=options, intent="ack")
    meeting.status = "proposed"
    # The old time comes out of everyone's calendar; the new one brings a new version.
    invitations.send_cancellations(ctx, meeting, invitations.cancel(ctx, meeting),
                                   f"Your {_what(meeting)} is being rescheduled.")
    return _offer(ctx, meeting, who, members, "Let's find the new time.",
                  _round_after(meeting))


def _awaits_outcome(meeting: Meeting) -> bool:
    """Booked (or left to the pair to arrange) and not yet answered; a booked meeting that a newer
    arrangement replaced can still be confirmed."""
    if meeting.status in ("agreed", "unscheduled"):
        return True
    return meeting.status == "lapsed" and meeting.agreed_at is not None and meeting.outcome_at is None


def _round_after(meeting: Meeting) -> int:
    # A reschedule starts a fresh set of offers but keeps the count, so "None of these" still ends.
    return 2


def settled(ctx: FlowContext, who: Participant, prompt) -> str | None:
    """A late typed answer about a meeting the buddy has already answered for."""
    meeting = ctx.session.get(Meeting, prompt.ref_id)
    return _already(meeting, who).text if meeting is not None and meeting.kind != "group" else None


def about(ctx: FlowContext, prompt) -> str:
    meeting = ctx.session.get(Meeting, prompt.ref_id)
    what = _which(meeting) if meeting else "meeting"
    if meeting is not None and meeting.kind != "shadowing" and meeting.agreed_at:
        member = ctx.session.get(Participant, prompt.participant_id)
        what += f" on {format_slot(meeting.agreed_at, _tz(member))}" if member is not None else ""
    stage = prompt.state.get("stage")
    if stage == "outcome":
        return f"whether your {what} happened"
    if stage == "after_no":
        return f"whether to find new times for your {what}"
    return f"a time for your {what}"


def on_text(ctx: FlowContext, who: Participant, prompt, text: str) -> Message:
    labels = ", ".join(f"{i + 1}) {c['label']}" for i, c in enumerate(prompt.state.get("choices", [])))
    return Message(f"Please pick one of: {labels}. You can reply with the number.",
                   choices=_choices_of(prompt), intent="reask")


def _choices_of(prompt):
    from bot.messages import Choice

    return tuple(Choice(**c) for c in prompt.state.get("choices", []))


def pending_checks(ctx: FlowContext, cohort_id: int | None = None) -> list[tuple[int, datetime]]:
    """Meetings still waiting for their "did you meet?" (for the timeline to re-arm after a restart)."""
    query = select(Meeting).where(Meeting.status.in_(("agreed", "unscheduled")), Meeting.kind != "group")
    if cohort_id is not None:
        query = query.where(Meeting.cohort_id == cohort_id)
    due = []
    for meeting in ctx.session.scalars(query):
        if meeting.status == "agreed" and meeting.agreed_at:
            due.append((meeting.id, meeting.agreed_at + timedelta(minutes=ctx.options.meeting_minutes)))
        else:
            due.append((meeting.id, meeting.created_at + UNSCHEDULED_CHECK_AFTER))
    return due


def start_buddy_meeting(ctx: FlowContext, cohort: Cohort, pair: Pair, step) -> int:
    """Programme step `propose_meeting`: the proposer rotates, the manager first."""
    members = active_members(pair)
    if len(members) < 2:
        return 0
    proposers = reach.reachable(members)  # someone who cannot be reached cannot pick a time
    if not proposers:
        return 0
    proposer = proposers[pair.proposals_made % len(proposers)]
    pair.proposals_made += 1
    intro = fill(step.text, first_name=proposer.person.first_name,
                 buddy_names=names([m for m in members if m.id != proposer.id]), cohort=cohort.name,
                 week=step.week)
    propose(ctx, cohort, pair, proposer=proposer, slot_members=members, kind="buddy", step_id=step.step_id,
            intro_text=intro)
    return 1
