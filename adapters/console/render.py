"""Plain-text rendering of core messages for the console (and the demo transcript)."""

from __future__ import annotations

from bot.messages import Message


def render_text(message: Message) -> str:
    lines = [message.text]
    if message.choices:
        lines.append("   " + "  ".join(f"[{i + 1}] {c.label}" for i, c in enumerate(message.choices)))
    if message.form:
        for index, field in enumerate(message.form.fields, 1):
            hint = ""
            if field.kind == "scale":
                hint = f" (1 {field.low_anchor} .. 5 {field.high_anchor})"
            elif field.kind == "choice":
                hint = f" ({' / '.join(field.options)})"
            lines.append(f"   {index}. {field.label}{hint}")
    for link in message.links:
        lines.append(f"   {link.label}: {link.url}")
    if message.invitation is not None:
        invitation = message.invitation
        what = ("calendar cancellation" if invitation.cancelled
                else "updated calendar invitation" if invitation.sequence else "calendar invitation")
        lines.append(f"   📎 {what} attached (.ics)")
    return "\n".join(lines)
