"""Where the Slack adapter gets a bot token for a workspace.

Two set-ups: one workspace with a fixed bot token, or many workspaces installed through OAuth,
with slack_sdk's SQLAlchemy installation and state stores on Pairbot's own database. Rotating
tokens (xoxe.xoxb-...) are refreshed here before they expire, so scheduled sends from the delivery
worker keep working, not only the requests Slack sends us (bolt refreshes those itself).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Optional, Protocol

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# Refresh a rotating token when it has less than this long to live (bolt uses the same default).
ROTATE_MINUTES_BEFORE_EXPIRY = 120
INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
STATES_TABLE = "slack_oauth_states"


class NotInstalled(Exception):
    """No bot token for this workspace (the app was never installed there, or was uninstalled)."""


class TokenSource(Protocol):
    async def token_for(self, team_id: str) -> str: ...

    def forget(self, team_id: str) -> None:
        """Slack refused the token: look it up afresh next time."""


class FixedToken:
    """Single-workspace mode: the bot token from the config."""

    def __init__(self, token: str):
        self._token = token

    async def token_for(self, team_id: str) -> str:
        return self._token

    def forget(self, team_id: str) -> None:
        pass  # nothing to look up again: the config is the only source


class ThreadedInstallationStore(AsyncInstallationStore):
    """slack_sdk's SQLAlchemy installation store on our (synchronous) engine, run off the event loop.
    Its async sibling would need a second, async database driver for the same database."""

    def __init__(self, client_id: str, engine: Engine,
                 on_installed: Callable[[Installation], Awaitable[None]] | None = None):
        self.on_installed = on_installed
        self.store = SQLAlchemyInstallationStore(client_id=client_id, engine=engine,
                                                 bots_table_name=BOTS_TABLE,
                                                 installations_table_name=INSTALLATIONS_TABLE)
        self.store.create_tables()  # create_all: only adds what is missing

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation):
        await asyncio.to_thread(self.store.save, installation)
        if self.on_installed is not None:
            await self.on_installed(installation)

    async def async_save_bot(self, bot: Bot):
        await asyncio.to_thread(self.store.save_bot, bot)

    async def async_find_bot(self, *, enterprise_id: Optional[str], team_id: Optional[str],
                             is_enterprise_install: Optional[bool] = False) -> Optional[Bot]:
        return await asyncio.to_thread(self.store.find_bot, enterprise_id=enterprise_id, team_id=team_id,
                                       is_enterprise_install=is_enterprise_install)

    async def async_find_installation(self, *, enterprise_id: Optional[str], team_id: Optional[str],
                                      user_id: Optional[str] = None,
                                      is_enterprise_install: Optional[bool] = False) -> Optional[Installation]:
        return await asyncio.to_thread(self.store.find_installation, enterprise_id=enterprise_id,
                                       team_id=team_id, user_id=user_id,
                                       is_enterprise_install=is_enterprise_install)

    async def async_delete_bot(self, *, enterprise_id: Optional[str], team_id: Optional[str]) -> None:
        await asyncio.to_thread(self.store.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(self, *, enterprise_id: Optional[str], team_id: Optional[str],
                                        user_id: Optional[str] = None) -> None:
        await asyncio.to_thread(self.store.delete_installation, enterprise_id=enterprise_id, team_id=team_id,
                                user_id=user_id)

    async def async_delete_all(self, *, enterprise_id: Optional[str], team_id: Optional[str]):
        await asyncio.to_thread(self.store.delete_all, enterprise_id=enterprise_id, team_id=team_id)


class ThreadedStateStore(AsyncOAuthStateStore):
    """The OAuth state store (one-time values against CSRF in the install flow), on our engine."""

    def __init__(self, engine: Engine, expiration_seconds: int = 600):
        self.store = SQLAlchemyOAuthStateStore(expiration_seconds=expiration_seconds, engine=engine,
                                               table_name=STATES_TABLE)
        self.store.create_tables()

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args, **kwargs) -> str:
        return await asyncio.to_thread(self.store.issue)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self.store.consume, state)


class InstalledTokens:
    """Many-workspace mode: the bot token saved when a workspace installed the app, rotated when
    it is about to expire (the rotated token is saved, so every replica sees it)."""

    def __init__(self, store: ThreadedInstallationStore, client_id: str, client_secret: str, api_url: str,
                 session=None):
        self.store = store
        self.rotator = AsyncTokenRotator(client_id=client_id, client_secret=client_secret,
                                         client=AsyncWebClient(base_url=api_url, session=session))
        self._lock = asyncio.Lock()
        # Workspace -> (bot token, expiry in epoch seconds or None): a fan-out of thousands of
        # messages reads the installation once, not once per message.
        self._tokens: dict[str, tuple[str, int | None]] = {}

    def forget(self, team_id: str) -> None:
        self._tokens.pop(team_id, None)

    def _fresh(self, team_id: str) -> str | None:
        token, expires_at = self._tokens.get(team_id, ("", None))
        if token and (expires_at is None or expires_at > time.time() + ROTATE_MINUTES_BEFORE_EXPIRY * 60):
            return token
        return None

    async def token_for(self, team_id: str) -> str:
        if token := self._fresh(team_id):
            return token
        async with self._lock:  # one refresh at a time: a refresh token can be used only once
            if token := self._fresh(team_id):
                return token
            installation = await self.store.async_find_installation(enterprise_id=None, team_id=team_id)
            if installation is None or not installation.bot_token:
                raise NotInstalled(f"Pairbot is not installed in Slack workspace {team_id}")
            rotated = await self.rotator.perform_token_rotation(
                installation=installation, minutes_before_expiration=ROTATE_MINUTES_BEFORE_EXPIRY)
            if rotated is not None:
                await asyncio.to_thread(self.store.store.save, rotated)  # a refresh, not a new install
                log.info("rotated the bot token of Slack workspace %s", team_id)
                installation = rotated
            self._tokens[team_id] = (installation.bot_token, installation.bot_token_expires_at)
            return installation.bot_token
