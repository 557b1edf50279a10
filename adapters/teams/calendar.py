"""Calendar invitations in Teams. A bot can put a file in a personal chat only through the file
consent card (a tap to allow, then an upload to the person's OneDrive), too much for "add it with
one tap"; so the card carries links instead: "Add to calendar" opens this server's
GET /calendar/<token>.ics, and "Open in Teams" a new Teams meeting with the subject, times and
attendees filled in (Teams deep links, learn.microsoft.com, 2026-12).

The token names the meeting, the person and the invitation's SEQUENCE, signed with HMAC-SHA256,
so links cannot be guessed or changed to reach someone else's copy. The file is made when the link
is opened, so an old link gives that person's copy as it is now (a cancellation, if it was called off).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import urllib.parse
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.invitations import CalendarEvent, CalendarFile
from bot.messages import Invitation, Link

log = logging.getLogger(__name__)

PATH = "/calendar/{token}.ics"
_TOKEN = re.compile(r"^([0-9]{1,12})-([0-9]{1,12})-([0-9]{1,9})-([A-Za-z0-9_-]{24})$")
_DERIVED = b"pairbot calendar links"


class CalendarLinks:
    def __init__(self, secret: bytes, base_url: str):
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> "CalendarLinks":
        """The key: [calendar] link_secret, else one derived from [teams] app_password (never the
        password itself), else, on a developer machine with neither, one for this process only."""
        if settings.calendar.link_secret:
            secret = settings.calendar.link_secret.encode()
        elif settings.teams.app_password:
            secret = hmac.new(settings.teams.app_password.encode(), _DERIVED, hashlib.sha256).digest()
        else:
            log.warning("Teams: neither [calendar] link_secret nor [teams] app_password is set, so 'Add to "
                        "calendar' links are signed with a key of this process only and stop working after "
                        "a restart.")
            secret = secrets.token_bytes(32)
        base = settings.calendar.public_url
        if not base:
            base = f"http://{settings.server.host}:{settings.server.port}"
            if settings.teams.enabled:
                log.warning("Teams: 'Add to calendar' links point at %s; set [calendar] public_url to the "
                            "address people's browsers reach this server at.", base)
        return cls(secret, base)

    def token(self, invitation: Invitation) -> str:
        ids = f"{invitation.meeting_id}-{invitation.participant_id}-{invitation.sequence}"
        return f"{ids}-{self._mac(ids)}"

    def read(self, token: str) -> Invitation | None:
        """The invitation a token stands for; None if it is not one this server signed."""
        found = _TOKEN.match(token)
        if found is None:
            return None
        ids = f"{found[1]}-{found[2]}-{found[3]}"
        if not hmac.compare_digest(self._mac(ids), found[4]):
            return None
        return Invitation(int(found[1]), int(found[2]), int(found[3]))

    def url(self, invitation: Invitation) -> str:
        return self.base_url + PATH.format(token=self.token(invitation))

    def links(self, invitation: Invitation, calendar: CalendarFile) -> tuple[Link, ...]:
        if calendar.event.cancelled:
            return (Link("Remove from calendar", self.url(invitation)),)
        return (Link("Add to calendar", self.url(invitation)), Link("Open in Teams", meeting_link(calendar.event)))

    def _mac(self, ids: str) -> str:
        digest = hmac.new(self._secret, ids.encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode()


def meeting_link(event: CalendarEvent) -> str:
    """Teams' "new meeting" deep link: subject, start and end (ISO 8601 with the offset, in the
    recipient's zone) and the attendees' emails, comma-separated."""
    tz = ZoneInfo(event.timezone)
    query = [("subject", event.summary), ("startTime", event.starts_at.astimezone(tz).isoformat()),
             ("endTime", event.ends_at.astimezone(tz).isoformat())]
    emails = [a.email for a in event.attendees]
    if emails:
        query.append(("attendees", ",".join(emails)))
    if event.location:
        query.append(("content", event.location))
    return "https://teams.microsoft.com/l/meeting/new?" + "&".join(
        f"{name}={urllib.parse.quote(value, safe=',@' if name == 'attendees' else '')}" for name, value in query)
