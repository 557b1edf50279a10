"""Whether Slack takes Pairbot's token, as Health part "token:slack": a revoked or invalid token
(on any call: a send, a reply, auth.test) is trouble until a call works again. Logged once when it
starts and once when it ends."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError

from bot.health import Health

log = logging.getLogger(__name__)

PART = "token:slack"
# Slack's answers that mean the token itself is refused (Web API docs, 2026-11).
REFUSED = {"invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired",
           "team_access_not_granted"}


class TokenHealth:
    def __init__(self, health: Health | None = None):
        self.health = health

    def refused(self, error: str) -> bool:
        """Note Slack's `error`; True when it means the token is refused."""
        if error not in REFUSED:
            return False
        if self.health is not None and self.health.trouble(PART, f"Slack refused the bot token ({error})"):
            log.error("%s cannot work: Slack refused the bot token (%s); deliveries wait and are retried",
                      PART, error)
        return True

    def failed(self, failure: Exception) -> bool:
        return isinstance(failure, SlackApiError) and self.refused(error_of(failure))

    def worked(self) -> None:
        ended = self.health.fine(PART) if self.health is not None else None
        if ended is not None:
            log.warning("%s works again after %.0f s (%s)", PART, time.time() - ended.since, ended.reason)


def error_of(failure: SlackApiError) -> str:
    data = failure.response.data if isinstance(failure.response.data, dict) else {}
    return str(data.get("error", ""))
