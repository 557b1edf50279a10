"""The optional improvement project: where has the pair got to?"""

from __future__ import annotations

from sqlalchemy import select

from bot import reach
from bot.context import FlowContext, active_members, names
from bot.flows.base import StepInfo, choice, choices_state, fill
from bot.messages import Message
from bot.models import Cohort, Pair, Participant, Project, Prompt

FLOW = "project"
STAGES = ("none", "identified", "planned", "tested", "presented")
LABELS = {"none": "Not yet", "identified": "Spotted one", "planned": "Planned", "tested": "Tried it",
          "presented": "Presented it"}


def start(ctx: FlowContext, cohort: Cohort, pair: Pair, step: StepInfo) -> int:
    members = active_members(pair)
    if len(members) < 2:
        return 0
    options = tuple(choice(LABELS[s], FLOW, "stage", pair.id, s) for s in STAGES)
    for member in members:
        lead = fill(step.text, first_name=member.person.first_name,
                    buddy_names=names([m for m in members if m.id != member.id]), cohort=cohort.name,
                    week=step.week) + reach.note_for(members, member)
        ctx.open_prompt(member, FLOW, pair.id, choices=choices_state(options))
        ctx.send_to(member, Message(f"{lead}\nWhere has your improvement project got to?", choices=options,
                                    intent="project"), f"step:{cohort.id}:{step.step_id}:participant:{member.id}")
    return len(members)


def on_click(ctx: FlowContext, who: Participant, verb: str, value: str) -> Message:
    pair_id, stage = value.split(":", 1)
    pair = ctx.session.get(Pair, int(pair_id))
    if verb != "stage" or stage not in STAGES or pair is None or who.id not in {m.participant_id for m in pair.members}:
        raise LookupError("That project question is no longer valid.")
    project = ctx.session.scalars(select(Project).where(Project.pair_id == pair.id)).first()
    if project is None:
        project = Project(pair_id=pair.id, stage=stage, updated_at=ctx.now)
        ctx.session.add(project)
    else:
        project.stage, project.updated_at = stage, ctx.now
    # The others' copies of the question close with it, so tell them, as a contract does.
    asked = set(ctx.session.scalars(select(Prompt.participant_id).where(
        Prompt.flow == FLOW, Prompt.ref_id == pair.id, Prompt.status == "open")))
    ctx.close_prompts(FLOW, pair.id, status="answered")
    for other in active_members(pair):
        if other.id != who.id and other.id in asked:
            ctx.send_to(other, Message(f"{who.person.name} noted where your improvement project has got to: "
                                       f"'{LABELS[stage].lower()}'.", intent="project_done"),
                        f"project:{pair.id}:{stage}:{ctx.now:%Y%m%d%H%M}:to:{other.id}")
    return Message(f"Noted for your pair: project stage '{LABELS[stage].lower()}'.", intent="ack")


def settled(ctx: FlowContext, who: Participant, prompt) -> str | None:
    """A late answer from one member after the other has said where the project is."""
    project = ctx.session.scalars(select(Project).where(Project.pair_id == prompt.ref_id)).first()
    if project is None:
        return None
    return f"Your pair's project stage is already noted: '{LABELS[project.stage].lower()}'."


def about(ctx: FlowContext, prompt) -> str:
    return "where your improvement project has got to"


def on_text(ctx: FlowContext, who: Participant, prompt, text: str) -> Message:
    options = ", ".join(f"{i + 1}) {LABELS[s]}" for i, s in enumerate(STAGES))
    from bot.messages import Choice

    return Message(f"Please pick one of: {options}.", choices=tuple(Choice(**c) for c in prompt.state["choices"]),
                   intent="reask")
