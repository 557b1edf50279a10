"""The conversation core: turns inbound events into state changes and replies, runs programme steps
and timed follow-ups. It talks to platforms only through the outbox and reply values."""

from __future__ import annotations

import logging
from datetime import timedelta
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import commands, enrolment, focus, group_chat, invitations, outbox, overview, reach, timeline_changes
from bot.capabilities import Capabilities
from bot.clock import Clock
from bot.context import CoreOptions, FlowContext, Wakeup, WakeupScheduler, address_of
from bot.daytime import QuietHoursError, parse_quiet_hours
from bot.db import Database, insert_for
from bot.events import Address, Clicked, Command, InboundEvent, Joined, Profile, Said, Submitted, Upload
from bot.flows import absence, digest, meeting, moving_on, profile, quiet, rota_questions, survey
from bot.messages import Invitation, Message, Recipient
from bot.models import AuditEntry, Cohort, Delivery, Organisation, Participant, Person, ProcessedEvent, Prompt, StepRun
from bot.overview import Overview
from bot.programme import Programme
from bot.steps import fan_out

log = logging.getLogger(__name__)

# Flow name (the part of an action before ':') -> module with on_click / on_text / on_form; "focus"
# is the "which question was that for?" reply.
FLOWS = {**focus.FLOWS, focus.FLOW: focus}

HELP = commands.PARTICIPANT_HELP
WAKEUP_JOBS = {"meeting_check": meeting.ask_outcome, "workshop_digest": digest.after_workshop}


class Pairbot:
    def __init__(self, db: Database, clock: Clock, capabilities: Capabilities | None = None,
                 options: CoreOptions | None = None, wakeups: WakeupScheduler | None = None):
        self.db = db
        self.clock = clock
        self.capabilities = capabilities or Capabilities()
        self.options = options or CoreOptions()
        self.wakeups = wakeups
        self._memo: dict = {}  # see FlowContext.memo

    # --- units of work ---------------------------------------------------------------------------
    @contextmanager
    def unit(self) -> Iterator[FlowContext]:
        """One transaction: state changes, their deliveries and the timeline changes they make
        commit together (so the leading replica hears of them: bot/timeline_changes.py). A
        timeline in this process is told at once, after the commit, so it reads committed rows."""
        with self.db.session() as session:
            ctx = FlowContext(session, self.clock.now(), self.capabilities, self.options, memo=self._memo)
            yield ctx
            ctx.flush()
            timeline_changes.record(session, ctx.wakeups, ctx.cohorts_changed)
        if len(self._memo) > 10_000:
            self._memo.clear()
        self._memo.update(ctx.learned)
        if self.wakeups is not None:
            for wakeup in ctx.wakeups:
                self.wakeups.schedule(wakeup)
            for cohort_id in sorted(ctx.cohorts_changed):
                self.wakeups.cohort_changed(cohort_id)

    # --- inbound ---------------------------------------------------------------------------------
    def handle(self, event: InboundEvent) -> list[Message]:
        """Handle one event; returns the replies to show its author. A repeated event id does nothing."""
        return self.answer(event)[0]

    def answer(self, event: InboundEvent, answered_key: str = "") -> tuple[list[Message], Message | None]:
        """`handle`, and in the same unit of work the message that was answered (by its outbox key),
        for platforms that redraw it to show the answer."""
        original = None
        try:
            with self.unit() as ctx:
                if answered_key:
                    original = _delivered(ctx, event.who, answered_key)
                if event.event_id and not _first_time(ctx, event.who, event.event_id):
                    return [], original
                return self._dispatch(ctx, event), original
        except LookupError as problem:
            log.info("event from %s refused: %s", event.who.key(), problem)
            text = str(problem.args[0]) if problem.args else "That is no longer valid."
            return [Message(f"Sorry, I can't do that: {text}", intent="error")], original
        except IntegrityError:
            # The same event being handled at the same moment by another worker.
            log.info("event %s already being handled", event.event_id)
            return [], original

    def _dispatch(self, ctx: FlowContext, event: InboundEvent) -> list[Message]:
        person = _person(ctx, event.who)
        if group_chat.from_group(event):  # others read there: nothing personal is answered in it
            replies = group_chat.handle(ctx, event, person)
            if replies is not None:
                return replies
        if isinstance(event, Command):
            return [commands.run(ctx, event, person)]
        if person is None:
            return [Message("Hello! I don't know you yet: ask your programme coordinator to enrol you.",
                            intent="unknown_person")]
        if not person.reachable:
            person.reachable = True  # they just reached us, so we can reach them
        if isinstance(event, Joined):
            enrolled = ctx.session.scalars(select(Participant.id).where(Participant.person_id == person.id)).first()
            if enrolled is None and not commands.roles(ctx, person):
                return [Message("Hello! You are not enrolled in a programme yet: ask your programme coordinator "
                                "to enrol you.", intent="unknown_person")]
            return [commands.help_message(ctx, person)]
        if isinstance(event, Clicked):
            flow, _, verb = event.action.partition(":")
            module = FLOWS.get(flow)
            if module is None or not hasattr(module, "on_click"):
                raise LookupError("that button is not one I know.")
            who = _participant(ctx, person, flow)
            return [module.on_click(ctx, who, verb, event.value)]
        if isinstance(event, Submitted):
            flow, _, ref = event.form.partition(":")
            module = FLOWS.get(flow)
            if module is None or not hasattr(module, "on_form"):
                raise LookupError("that form is not one I know.")
            return [module.on_form(ctx, _participant(ctx, person, flow), ref, event.answers)]
        if isinstance(event, Said):
            return [self._said(ctx, person, event.text)]
        raise LookupError("that kind of event is not supported.")

    def _said(self, ctx: FlowContext, person: Person, text: str) -> Message:
        words = text.strip()
        keyword = words.split(" ", 1)[0].lower() if words else ""
        if keyword in ("help", "?", "hi", "hello"):
            return commands.help_message(ctx, person)
        if keyword == "quiet-hours":
            return _set_quiet_hours(person, words[len(keyword):].strip())
        if keyword == "availability":
            who = _participant(ctx, person, None)
            rest = words[len("availability"):].strip()
            if not rest:
                return Message("Tell me when you could usually meet, like 'availability Mon 12:00-14:00, "
                               "Thu 17:00-18:00'.", intent="reask")
            return profile.set_availability(ctx, who, rest)
        if keyword == "rota":  # a platform that sends it as chat rather than as a command
            return rota_questions.command(ctx, person, words[len("rota"):].strip())
        return focus.route(ctx, person, words, HELP)

    # --- timeline --------------------------------------------------------------------------------
    def run_step(self, cohort_id: int, step_id: str) -> int | None:
        """Fan one programme step out to its audience, once. Returns None if it had already run."""
        try:
            with self.unit() as ctx:
                if ctx.session.get(StepRun, (cohort_id, step_id)) is not None:
                    return None
                cohort = ctx.session.get(Cohort, cohort_id)
                if cohort is None or cohort.status != "running":
                    return None
                step = Programme.from_dict(cohort.programme).step(step_id)
                run = StepRun(cohort_id=cohort_id, step_id=step_id, ran_at=ctx.now, recipients=0)
                ctx.session.add(run)
                ctx.session.flush()
                run.recipients = fan_out(ctx, cohort, step)
                if step.intent in digest.MILESTONES:
                    digest.send(ctx, cohort, f"after {step.params.get('title') or step.intent.replace('_', ' ')} "
                                             f"(week {step.week})", f"digest:{cohort_id}:milestone:{step_id}")
                log.info("cohort %s step %s (%s) reached %s", cohort_id, step_id, step.intent, run.recipients)
                return run.recipients
        except IntegrityError:
            return None

    def recounted(self, message: Message) -> Message | None:
        """A message whose figures are counted when it goes out (`Message.recount`), counted now;
        None when it is no longer deserved (a nudge held back by quiet hours, and the pair has met
        or booked since)."""
        if message.recount.startswith("nudge:"):
            with self.unit() as ctx:
                return message if quiet.still_quiet(ctx, int(message.recount.split(":")[1])) else None
        if not message.recount.startswith("digest:"):
            return message
        with self.unit() as ctx:
            return digest.recount(ctx, message)

    def run_wakeup(self, job: str, ref_id: int) -> int:
        with self.unit() as ctx:
            return WAKEUP_JOBS[job](ctx, ref_id)

    def sweep_quiet_pairs(self, cohort_id: int) -> int:
        with self.unit() as ctx:
            cohort = ctx.session.get(Cohort, cohort_id)
            if cohort is None or cohort.status != "running":
                return 0
            # Daily: people back from a pause, questions no longer held back by an ignored one,
            # rota questions put aside after a week, survey reminders, pairs gone quiet, people
            # about to rotate or go on long leave.
            resumed = absence.resume_returning(ctx, cohort)  # first: they are reminded like the others
            pending = focus.pending_prompts(ctx, cohort.id, flows=(survey.FLOW, rota_questions.FLOW))
            focus.release_stale(ctx, pending)
            rota_questions.close_stale(ctx, pending)
            return (resumed + survey.remind_due(ctx, cohort, pending) + quiet.sweep(ctx, cohort)
                    + moving_on.sweep(ctx, cohort))

    def send_weekly_digest(self, cohort_id: int) -> int:
        """The facilitators' weekly digest (once per programme week, however often it is asked)."""
        with self.unit() as ctx:
            cohort = ctx.session.get(Cohort, cohort_id)
            if cohort is None or cohort.status != "running":
                return 0
            until = quiet.active_until(cohort)
            if until is not None and ctx.now > until + timedelta(weeks=1):
                return 0  # the programme is over bar the follow-up: its last digest has gone
            week = (ctx.now.date() - cohort.start_date).days // 7
            return digest.send(ctx, cohort, f"week {week}", f"digest:{cohort_id}:week:{week}")

    def install(self, platform: str, workspace: str, name: str, coordinators: tuple[Profile, ...] = (),
                facilitators: tuple[Profile, ...] = ()) -> None:
        """A workspace or tenant has Pairbot: its organisation exists, and the people given (the
        installer, those named in the config) get their roles."""
        with self.unit() as ctx:
            org = enrolment.organisation(ctx.session, platform, workspace, name, ctx.now)
            for role, people in (("coordinator", coordinators), ("facilitator", facilitators)):
                for named in people:
                    who = enrolment.person(ctx.session, org, named.address, named.name, ctx.now, named.email,
                                           named.timezone)
                    _grant_at_install(ctx, org, who, role)

    def arrived(self, profile: Profile, organisation_name: str, coordinators: frozenset[str] = frozenset(),
                facilitators: frozenset[str] = frozenset()) -> None:
        """Someone added Pairbot where the platform has no install step of its own (Teams): their
        tenant becomes an organisation and they a known person, whom a coordinator can then enrol
        by email. People named in the config (by email) get their role; with no coordinator
        named, the first person in a new organisation becomes its coordinator, as a Slack
        installer does."""
        with self.unit() as ctx:
            address = profile.address
            org = ctx.session.scalars(select(Organisation).where(Organisation.platform == address.platform,
                                                                 Organisation.workspace == address.workspace)).first()
            first = org is None
            org = org or enrolment.organisation(ctx.session, address.platform, address.workspace, organisation_name,
                                                ctx.now)
            who = enrolment.person(ctx.session, org, address, profile.name, ctx.now, profile.email, profile.timezone)
            if profile.email and not who.email:
                who.email = profile.email
            email = (profile.email or "").lower()
            grants = [role for role, named in (("coordinator", coordinators), ("facilitator", facilitators))
                      if email and email in named]
            if first and not coordinators:
                grants.append("coordinator")
            for role in grants:
                _grant_at_install(ctx, org, who, role)

    def operate(self, text: str, uploads: tuple[Upload, ...] = (), organisation: str | None = None,
                operator: str = "operator") -> Message:
        """A coordinator command typed at the console. Whoever runs the console has the database
        itself, so acts for the organisation (named, or the only one) without a role check; the
        audit log names them as "<operator> at the console"."""
        with self.unit() as ctx:
            orgs = list(ctx.session.scalars(select(Organisation).order_by(Organisation.id)))
            chosen = [o for o in orgs if organisation is None or o.name.lower() == organisation.lower()
                      or o.workspace == organisation]
            known = ", ".join(f"{o.name} ({o.platform} {o.workspace})" for o in orgs)
            if not orgs:
                raise LookupError("there are no organisations yet: install Pairbot in Slack or Teams first")
            if len(chosen) > 1:
                raise LookupError(f"name the organisation with --organisation (organisations: {known})")
            if not chosen:
                raise LookupError(f"there is no organisation {organisation!r} (organisations: {known})")
            address = Address("console", chosen[0].workspace, operator)
            who = enrolment.person(ctx.session, chosen[0], address, f"{operator} at the console", ctx.now)
            # The console has no directory: people are named by the email of someone already known.
            event = Command(address, text, uploads=uploads)
            return commands.run(ctx, event, who, trusted=True)

    def delivered(self, who: Address, delivery_key: str) -> Message | None:
        """A message the outbox sent to `who` (a platform that opens a form on a click asks for it);
        None if there is no such delivery or it went to somebody else."""
        with self.unit() as ctx:
            return _delivered(ctx, who, delivery_key)

    def calendar(self, invitation: Invitation) -> invitations.CalendarFile | None:
        """The .ics an invitation stands for, as that person's copy is now (adapters call this when
        the message goes out, or when a calendar link is opened); None when there is none."""
        with self.unit() as ctx:
            return invitations.calendar_file(ctx, invitation.meeting_id, invitation.participant_id)

    def overview(self, who: Address) -> Overview:
        """"My programme" for one person."""
        with self.unit() as ctx:
            return overview.for_person(ctx, _person(ctx, who))

    def pending_wakeups(self) -> list[Wakeup]:
        with self.unit() as ctx:
            return [Wakeup("meeting_check", ref, at) for ref, at in meeting.pending_checks(ctx)] + \
                [Wakeup("workshop_digest", ref, at) for ref, at in digest.pending_after_workshops(ctx)]

    def reply_later(self, who: Address, replies: list[Message], reply_key: str) -> int:
        """Replies the platform would not take just now (busy, or no token): they go to the person's
        own chat through the outbox, keyed by the event they answer, so a retried event adds none.
        Returns how many were new."""
        with self.unit() as ctx:
            # A reply kept for redrawing keeps its own key, so the outbox records its ref under it.
            return outbox.record(ctx.session, [
                outbox.Outgoing(key=reply.reply_key or f"reply:{reply_key[:180]}:{n}", recipient=Recipient.person(who),
                                message=reply)
                for n, reply in enumerate(replies)], ctx.now)

    def replied(self, who: Address, posted: list[tuple[Message, str]]) -> int:
        """Direct replies to `who` that the platform took, with its ref for each: those with a
        `reply_key` are kept so that a later message can redraw them. Returns how many were kept."""
        if not posted:
            return 0
        with self.unit() as ctx:
            return outbox.record_replies(ctx.session, [(Recipient.person(who), m, ref) for m, ref in posted], ctx.now)

    def mark_unreachable(self, address: Address, reason: str) -> None:
        """A person left the workspace or blocked the app (the platform said so twice, hours apart):
        stop sending to them and tell coordinators what that means for their pair."""
        with self.unit() as ctx:
            person = _person(ctx, address)
            if person is None or not person.reachable:
                return
            person.reachable = False
            for participant in ctx.session.scalars(select(Participant).where(Participant.person_id == person.id)):
                cohort = ctx.session.get(Cohort, participant.cohort_id)
                if cohort.status in ("running", "paused", "draft"):
                    ctx.tell_coordinators(cohort, reach.coordinator_alert(ctx, participant, person.name, reason),
                                          key=f"unreachable:{person.id}:{participant.cohort_id}")


def _set_quiet_hours(person: Person, text: str) -> Message:
    """'quiet-hours 08:00-16:00': when this person gets no unprompted messages (a night worker)."""
    if not text:
        current = person.quiet_hours or "your organisation's (21:00-08:00 unless it set others)"
        return Message(f"Your quiet hours are {current}: nudges, reminders and digests wait until they end. "
                       f"Change them like 'quiet-hours 08:00-16:00'.", intent="reask")
    try:
        start, end = parse_quiet_hours(text)
    except QuietHoursError as problem:
        return Message(f"Sorry, I couldn't read that: {problem}.", intent="reask")
    person.quiet_hours = f"{start:%H:%M}-{end:%H:%M}"
    return Message(f"Thanks: between {start:%H:%M} and {end:%H:%M} ({person.timezone}) I'll hold nudges, "
                   f"reminders and digests until the quiet hours end.", intent="ack")


def _grant_at_install(ctx: FlowContext, org: Organisation, who: Person, role: str) -> None:
    """A role the install or the config gives, audited the first time."""
    if enrolment.grant(ctx.session, org, who, role, ctx.now):
        ctx.session.add(AuditEntry(organisation_id=org.id, actor="install", action=f"{role} add",
                                   detail=f"{who.name} ({address_of(who).key()})", at=ctx.now))


def _delivered(ctx: FlowContext, who: Address, delivery_key: str) -> Message | None:
    delivery = ctx.session.scalars(select(Delivery).where(Delivery.idempotency_key == delivery_key)).first()
    if delivery is None or who not in Recipient.from_dict(delivery.recipient).members:
        return None
    return Message.from_dict(delivery.message)


def _first_time(ctx: FlowContext, who: Address, event_id: str) -> bool:
    key = f"{who.platform}:{who.workspace}:{event_id}"[:200]
    # One statement: insert the id unless it is there already (a retry), and say which it was.
    statement = insert_for(ctx.session)(ProcessedEvent).values(event_key=key, processed_at=ctx.now) \
        .on_conflict_do_nothing(index_elements=["event_key"]).returning(ProcessedEvent.event_key)
    return ctx.session.execute(statement).first() is not None


def _person(ctx: FlowContext, who: Address) -> Person | None:
    return ctx.session.scalars(
        select(Person).where(Person.platform == who.platform, Person.workspace == who.workspace,
                             Person.user_id == who.user)
    ).first()


def _participant(ctx: FlowContext, person: Person, flow: str | None) -> Participant:
    """The person's membership that an answer belongs to: the one with an open prompt of this flow,
    else their newest membership of a running cohort."""
    # One query: memberships newest first, each with whether it has an open prompt of this flow
    # and whether its cohort is running (answers are on the hot path of every click).
    has_prompt = select(Prompt.id).where(Prompt.participant_id == Participant.id, Prompt.flow == (flow or ""),
                                         Prompt.status == "open").exists()
    rows = ctx.session.execute(
        select(Participant, has_prompt, Cohort.status == "running")
        .join(Cohort, Cohort.id == Participant.cohort_id)
        .where(Participant.person_id == person.id)
        .order_by(Participant.id.desc())
    ).unique().all()
    if not rows:
        raise LookupError("you are not enrolled in a cohort at the moment.")
    for member, prompted, _running in rows:
        if prompted:
            return member
    for member, _prompted, running in rows:
        if running:
            return member
    return rows[0][0]
