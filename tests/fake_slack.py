"""A fake Slack Web API on loopback, for tests that drive the real slack_sdk clients.

Point ``AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)`` (or a Bolt app built on such a
client) at a started ``FakeSlack``. It keeps just enough state to answer like Slack does: users,
DM / group-DM channels and the messages posted in them, modal and App Home views, and tokens
(including token rotation through ``oauth.v2.access``). Every request is recorded in ``calls``;
``fail()`` and ``rate_limit()`` inject errors into the next matching calls.

Opt-in, for load: ``latency`` answers every Web API call that many seconds after it arrived, and
``enforce_limits=True`` answers HTTP 429 with Retry-After past Slack's documented limits
(``SlackLimits``: chat.postMessage per channel and per workspace, Tier 3 methods per workspace),
counting each in ``throttled``.

Usage::

    fake = FakeSlack()
    await fake.start()
    try:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        await client.chat_postMessage(channel=..., text="hi")
    finally:
        await fake.stop()

or ``async with FakeSlack() as fake: ...``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from aiohttp import web

from rate_limits import Bucket, Limit, admit

JSON = dict[str, Any]

# Arguments that Slack accepts as JSON text inside form-encoded bodies.
_JSON_ARGUMENTS = ("blocks", "view", "attachments")

# Slack refuses to open a conversation with more than 8 people (mpim limit).
_MAX_CONVERSATION_USERS = 8

_BOT_SCOPES = "chat:write,im:write,mpim:write,users:read,users:read.email,commands"


@dataclass
class Call:
    """One request received by the fake Web API."""

    method: str
    args: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)  # when it arrived, for pacing checks


@dataclass
class _Injection:
    """An error to answer instead of the real result, for the next ``remaining`` matching calls."""

    method: str
    remaining: int
    when: Callable[[Call], bool] | None
    error: str
    retry_after: int | None = None  # set for rate limits (HTTP 429)
    status: int = 200  # the HTTP status of the answer (503: Slack is down)

    def matches(self, call: Call) -> bool:
        return self.remaining > 0 and self.method == call.method and (self.when is None or self.when(call))


@dataclass(frozen=True)
class SlackLimits:
    """Slack's limits (Web API docs, "Rate limits" and chat.postMessage, 2026-12), as token buckets:
    chat.postMessage about 1 a second per channel with short bursts, and "several hundred messages
    per minute" per workspace; Tier 3 methods (conversations.open, chat.update) 50+ a minute."""

    post_per_channel: float = 1.0
    post_per_channel_burst: float = 3
    post_per_workspace: float = 5.0
    post_per_workspace_burst: float = 10
    tier3_per_minute: float = 50
    tier3_burst: float = 5
    tier3_methods: frozenset[str] = frozenset({"conversations.open", "chat.update"})


@dataclass
class _Channel:
    id: str
    members: frozenset[str]
    is_im: bool
    is_mpim: bool
    messages: dict[str, JSON] = field(default_factory=dict)  # ts -> message


class FakeSlack:
    """In-process imitation of the parts of slack.com/api that Pairbot uses."""

    def __init__(self, team_id: str = "T1", bot_user_id: str = "UBOT", bot_token: str = "xoxb-test", *,
                 latency: float = 0.0, enforce_limits: bool = False, limits: SlackLimits = SlackLimits()) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_token = bot_token
        self.bot_id = "B1"
        self.app_id = "A1"
        # None accepts any non-empty client id / secret in oauth.v2.access.
        self.client_id: str | None = None
        self.client_secret: str | None = None
        # Who "clicked Allow" in an OAuth install (authed_user.id of the code exchange).
        self.installer_user_id = ""

        self.calls: list[Call] = []
        # Seconds each Web API call takes before it is answered (a slow platform, for fault tests).
        self.delay = 0.0
        self.responses: list[JSON] = []
        self.users: dict[str, JSON] = {}
        self.valid_tokens: set[str] = {bot_token}
        # Channel id -> ts -> message, for every message the bot posted.
        self.messages: dict[str, dict[str, JSON]] = {}

        self._channels: dict[str, _Channel] = {}
        self._conversations: dict[frozenset[str], str] = {}  # member set -> channel id
        self._views: dict[str, JSON] = {}  # view id -> view
        self._home_views: dict[str, str] = {}  # user id -> view id of their App Home
        self._refresh_tokens: set[str] = set()
        self._injections: list[_Injection] = []
        self._response_urls: list[str] = []
        self._ids = itertools.count(1)
        self._message_count = itertools.count(1)
        self._token_count = itertools.count(1)
        self.latency = latency
        self.enforce_limits = enforce_limits
        self.limits = limits
        self.throttled: dict[str, int] = {}  # method -> calls answered 429 by enforce_limits
        self._buckets: dict[tuple[str, str], Bucket] = {}

        self._socket: web.WebSocketResponse | None = None
        self._socket_acks: dict[str, asyncio.Future] = {}
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, Callable[[Call, web.Request], Awaitable[JSON]]] = {
            "auth.test": self._auth_test,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.list": self._users_list,
            "oauth.v2.access": self._oauth_v2_access,
            "apps.connections.open": self._apps_connections_open,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }
        # Files: id -> {"name", "content", "channels", "comment"}; uploads wait here until completed.
        self.files: dict[str, JSON] = {}
        self._uploads: dict[str, JSON] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{n}", self._handle_response_url)
        app.router.add_get("/socket", self._handle_socket)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{file_id}/{name}", self._handle_download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        return f"{self._started_url()}/api/"

    @property
    def response_url(self) -> str:
        """The most recently issued response URL (one is issued on first use)."""
        if not self._response_urls:
            return self.new_response_url()
        return self._response_urls[-1]

    def new_response_url(self) -> str:
        url = f"{self._started_url()}/response/{len(self._response_urls) + 1}"
        self._response_urls.append(url)
        return url

    def _started_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeSlack is not started; await fake.start() first")
        return self._base_url

    # ------------------------------------------------------------------ test set-up and inspection

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def add_user(
        self,
        user_id: str,
        real_name: str,
        email: str | None = None,
        tz: str = "Europe/London",
        deleted: bool = False,
    ) -> None:
        name = ".".join(real_name.lower().split()) or user_id.lower()
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name,
            "tz": tz,
            "tz_offset": _utc_offset_seconds(tz),
            "deleted": deleted,
            "is_bot": False,
            "profile": {"email": email, "real_name": real_name, "display_name": name},
        }

    def add_channel(self, channel_id: str, members: Iterable[str] = ()) -> None:
        """Register a public channel ("C...") the bot may post in."""
        channel = _Channel(channel_id, frozenset(members) | {self.bot_user_id}, is_im=False, is_mpim=False)
        self._channels[channel_id] = channel
        self.messages[channel_id] = channel.messages

    def open_conversation(self, *users: str) -> str:
        """The DM (one user) or group DM with these users, opened now if need be, as
        conversations.open would; for tests that set up conversations the bot opened earlier."""
        others = frozenset(users) - {self.bot_user_id}
        existing = self._conversations.get(others)
        return existing if existing else self._open_channel(others).id

    def forget_channel(self, channel_id: str) -> None:
        """The conversation is gone (an admin deleted it): its id answers channel_not_found and
        conversations.open opens a new one."""
        channel = self._channels.pop(channel_id)
        self._conversations = {k: v for k, v in self._conversations.items() if v != channel.id}

    def add_refresh_token(self, token: str) -> None:
        self._refresh_tokens.add(token)

    def fail(self, method: str, error: str, times: int = 1, when: Callable[[Call], bool] | None = None,
             status: int = 200) -> None:
        self._injections.append(_Injection(method, times, when, error, status=status))

    def stop_failing(self) -> None:
        self._injections.clear()

    def rate_limit(
        self, method: str, times: int, retry_after: int = 1, when: Callable[[Call], bool] | None = None
    ) -> None:
        self._injections.append(_Injection(method, times, when, "ratelimited", retry_after))

    # ------------------------------------------------------------------ Socket Mode

    async def socket_send(self, kind: str, payload: JSON, timeout: float = 5.0) -> JSON:
        """Push one envelope ("events_api", "slash_commands" or "interactive") down the Socket
        Mode connection and wait for the app's acknowledgement, as Slack does."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._socket is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("no Socket Mode connection")
            await asyncio.sleep(0.02)
        envelope_id = f"env-{next(self._ids)}"
        waiter = asyncio.get_running_loop().create_future()
        self._socket_acks[envelope_id] = waiter
        await self._socket.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                      "accepts_response_payload": kind != "events_api", "retry_attempt": 0,
                                      "retry_reason": ""})
        return await asyncio.wait_for(waiter, timeout)

    async def _apps_connections_open(self, call: Call, request: web.Request) -> JSON:
        return {"ok": True, "url": f"ws://{request.host}/socket"}

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json({"type": "hello", "num_connections": 1,
                                "connection_info": {"app_id": self.app_id}})
        async for frame in socket:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            answer = json.loads(frame.data)
            waiter = self._socket_acks.pop(answer.get("envelope_id", ""), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(answer)
        if self._socket is socket:
            self._socket = None
        return socket

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        response = await self._answer_api(request)
        if self.latency:
            await asyncio.sleep(self.latency)  # the network and Slack's own time, both ways
        return response

    async def _answer_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_arguments(request)
        token = _bearer_token(request) or args.pop("token", None)
        call = Call(method, args, token)
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)

        injection = self._take_injection(call)
        if injection is not None:
            body = {"ok": False, "error": injection.error}
            if injection.retry_after is not None:
                # Slack answers rate-limited calls with HTTP 429 and the wait in seconds.
                return web.json_response(body, status=429, headers={"Retry-After": str(injection.retry_after)})
            return web.json_response(body, status=injection.status)

        if method == "apps.connections.open":  # Socket Mode: an app-level token, not the bot's
            if not (token or "").startswith("xapp-"):
                return web.json_response({"ok": False, "error": "not_allowed_token_type"})
        elif method != "oauth.v2.access":  # the only method here authenticated by client credentials
            if not token:
                return web.json_response({"ok": False, "error": "not_authed"})
            if token not in self.valid_tokens:
                return web.json_response({"ok": False, "error": "invalid_auth"})

        retry_after = admit(self._limits_for(call), time.monotonic()) if self.enforce_limits else 0
        if retry_after:
            self.throttled[method] = self.throttled.get(method, 0) + 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})

        handler = self._handlers.get(method)
        result = await handler(call, request) if handler is not None else {"ok": True}
        return web.json_response(result)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        if not self._issued(request):
            return web.Response(status=404, text="no_active_hooks")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.Response(status=400, text="invalid_payload")
        self.responses.append(body)
        return web.Response(text="ok")

    def _issued(self, request: web.Request) -> bool:
        n = request.match_info["n"]
        return any(url.endswith(f"/response/{n}") for url in self._response_urls)

    def _limits_for(self, call: Call) -> list[Limit]:
        """The buckets this call counts against (limits are per app per workspace; one of each here)."""
        limits = self.limits

        def bucket(key: tuple[str, str], per_second: float, burst: float) -> Bucket:
            if key not in self._buckets:
                self._buckets[key] = Bucket(per_second, burst)
            return self._buckets[key]

        if call.method == "chat.postMessage":
            return [bucket(("channel", str(call.args.get("channel", ""))), limits.post_per_channel,
                           limits.post_per_channel_burst),
                    bucket(("workspace", call.method), limits.post_per_workspace, limits.post_per_workspace_burst)]
        if call.method in limits.tier3_methods:
            return [bucket(("workspace", call.method), limits.tier3_per_minute / 60, limits.tier3_burst)]
        return []

    @property
    def throttled_total(self) -> int:
        return sum(self.throttled.values())

    def _take_injection(self, call: Call) -> _Injection | None:
        # Rate limits win over plain failures: Slack throttles before it looks at the arguments.
        for rate_limits_only in (True, False):
            for injection in self._injections:
                if (injection.retry_after is not None) == rate_limits_only and injection.matches(call):
                    injection.remaining -= 1
                    return injection
        return None

    # ------------------------------------------------------------------ methods

    async def _auth_test(self, call: Call, request: web.Request) -> JSON:
        return {
            "ok": True,
            "url": f"https://{self.team_id.lower()}.slack.com/",
            "team": "Pairbot Test",
            "user": "pairbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    async def _conversations_open(self, call: Call, request: web.Request) -> JSON:
        channel_id = call.args.get("channel")
        if channel_id:
            if channel_id not in self._channels:
                return _error("channel_not_found")
            return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel_id}}

        raw_users = call.args.get("users")
        users = [user.strip() for user in str(raw_users or "").split(",") if user.strip()]
        if not users:
            return _error("users_list_not_supplied")
        # The bot is always a member, so naming it changes nothing.
        others = frozenset(user for user in users if user != self.bot_user_id)
        if not others:
            return _error("cannot_dm_bot")
        if len(others) > _MAX_CONVERSATION_USERS:
            return _error("too_many_users")
        for user_id in others:
            user = self.users.get(user_id)
            if user is None:
                return _error("user_not_found")
            if user["deleted"]:
                return _error("user_disabled")

        existing = self._conversations.get(others)
        if existing is not None:
            return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": existing}}
        channel = self._open_channel(others)
        return {"ok": True, "channel": {"id": channel.id}}

    def _open_channel(self, others: frozenset[str]) -> _Channel:
        is_im = len(others) == 1
        channel_id = f"{'D' if is_im else 'G'}{next(self._ids):08d}"
        channel = _Channel(channel_id, others | {self.bot_user_id}, is_im=is_im, is_mpim=not is_im)
        self._channels[channel_id] = channel
        self._conversations[others] = channel_id
        self.messages[channel_id] = channel.messages
        return channel

    def _resolve_channel(self, channel_arg: object) -> _Channel | None:
        """A channel id, or a user id, which Slack treats as the bot's DM with that user."""
        if not isinstance(channel_arg, str):
            return None
        if channel_arg in self._channels:
            return self._channels[channel_arg]
        user = self.users.get(channel_arg)
        if user is None or user["deleted"]:
            return None
        existing = self._conversations.get(frozenset({channel_arg}))
        return self._channels[existing] if existing else self._open_channel(frozenset({channel_arg}))

    def _next_ts(self) -> str:
        # Slack timestamps: seconds.microseconds, unique and increasing within a channel.
        micros = next(self._message_count) * 100
        return f"{1_700_000_000 + micros // 1_000_000}.{micros % 1_000_000:06d}"

    async def _chat_post_message(self, call: Call, request: web.Request) -> JSON:
        channel = self._resolve_channel(call.args.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        if not any(call.args.get(key) for key in ("text", "blocks", "attachments")):
            return _error("no_text")
        ts = self._next_ts()
        message: JSON = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": call.args.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in call.args:
                message[key] = call.args[key]
        channel.messages[ts] = message
        return {"ok": True, "channel": channel.id, "ts": ts, "message": dict(message)}

    async def _chat_update(self, call: Call, request: web.Request) -> JSON:
        channel = self._channels.get(str(call.args.get("channel", "")))
        if channel is None:
            return _error("channel_not_found")
        ts = str(call.args.get("ts", ""))
        message = channel.messages.get(ts)
        if message is None:
            return _error("message_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in call.args:
                message[key] = call.args[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel.id,
            "ts": ts,
            "text": message.get("text", ""),
            "message": dict(message),
        }

    async def _chat_post_ephemeral(self, call: Call, request: web.Request) -> JSON:
        channel = self._resolve_channel(call.args.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        if call.args.get("user") not in channel.members:
            return _error("user_not_in_channel")
        if not any(call.args.get(key) for key in ("text", "blocks", "attachments")):
            return _error("no_text")
        return {"ok": True, "message_ts": self._next_ts()}

    def _store_view(self, view_arg: object, view_id: str, *, root_id: str | None = None, **extra: Any) -> JSON:
        definition = view_arg if isinstance(view_arg, dict) else {}
        view: JSON = {
            "id": view_id,
            "team_id": self.team_id,
            "type": definition.get("type", "modal"),
            "title": definition.get("title"),
            "submit": definition.get("submit"),
            "close": definition.get("close"),
            "blocks": definition.get("blocks", []),
            "private_metadata": definition.get("private_metadata", ""),
            "callback_id": definition.get("callback_id", ""),
            "external_id": definition.get("external_id", ""),
            "state": {"values": {}},
            # Slack changes the hash on every update; views.update with a stale hash is refused.
            "hash": f"{next(self._ids)}.fakehash",
            "root_view_id": root_id or view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            **extra,
        }
        self._views[view_id] = view
        return view

    async def _views_open(self, call: Call, request: web.Request) -> JSON:
        if not call.args.get("trigger_id"):
            return _error("invalid_arguments")
        if not isinstance(call.args.get("view"), dict):
            return _error("invalid_arguments")
        view = self._store_view(call.args["view"], f"V{next(self._ids):08d}")
        return {"ok": True, "view": view}

    async def _views_update(self, call: Call, request: web.Request) -> JSON:
        view_id = call.args.get("view_id")
        external_id = call.args.get("external_id")
        if not view_id and external_id:
            view_id = next((v["id"] for v in self._views.values() if v["external_id"] == external_id), None)
        current = self._views.get(str(view_id)) if view_id else None
        if current is None:
            return _error("not_found")
        expected_hash = call.args.get("hash")
        if expected_hash and expected_hash != current["hash"]:
            return _error("hash_conflict")
        if not isinstance(call.args.get("view"), dict):
            return _error("invalid_arguments")
        view = self._store_view(call.args["view"], current["id"], root_id=current["root_view_id"])
        return {"ok": True, "view": view}

    async def _views_publish(self, call: Call, request: web.Request) -> JSON:
        # Lenient on purpose: any user id gets a Home tab, registered with add_user or not.
        user_id = call.args.get("user_id")
        if not user_id or not isinstance(call.args.get("view"), dict):
            return _error("invalid_arguments")
        current_id = self._home_views.get(user_id)
        if current_id is not None:
            expected_hash = call.args.get("hash")
            if expected_hash and expected_hash != self._views[current_id]["hash"]:
                return _error("hash_conflict")
        view_id = current_id or f"V{next(self._ids):08d}"
        self._home_views[user_id] = view_id
        view = self._store_view(call.args["view"], view_id, type="home")
        return {"ok": True, "view": view}

    # ------------------------------------------------------------------ files

    def share_file(self, name: str, content: bytes, filetype: str = "csv") -> JSON:
        """A file a person uploads: the `files` entry of their message event, downloadable only
        with the bot token (url_private_download)."""
        file_id = f"F{next(self._ids):07d}"
        self.files[file_id] = {"name": name, "content": content, "channels": [], "comment": ""}
        return {"id": file_id, "name": name, "title": name, "filetype": filetype, "size": len(content),
                "mimetype": "text/csv" if filetype == "csv" else "application/octet-stream",
                "url_private_download": f"{self._started_url()}/files-pri/{file_id}/{name}"}

    async def _handle_download(self, request: web.Request) -> web.Response:
        if _bearer_token(request) not in self.valid_tokens:
            return web.Response(status=302, headers={"Location": f"{self._started_url()}/login"})
        found = self.files.get(request.match_info["file_id"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found["content"], content_type="application/octet-stream")

    async def _files_get_upload_url(self, call: Call, request: web.Request) -> JSON:
        if not call.args.get("filename") or not str(call.args.get("length", "")).isdigit():
            return _error("invalid_arguments")
        file_id = f"F{next(self._ids):07d}"
        self._uploads[file_id] = {"name": call.args["filename"], "length": int(call.args["length"]), "content": None}
        return {"ok": True, "file_id": file_id, "upload_url": f"{self._started_url()}/upload/{file_id}"}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        pending = self._uploads.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404)
        pending["content"] = await request.read()
        return web.Response(text=f"OK - {len(pending['content'])}")

    async def _files_complete_upload(self, call: Call, request: web.Request) -> JSON:
        entries = call.args.get("files")
        entries = json.loads(entries) if isinstance(entries, str) else entries or []
        done = []
        for entry in entries:
            pending = self._uploads.pop(entry.get("id"), None)
            if pending is None or pending["content"] is None or len(pending["content"]) != pending["length"]:
                return _error("file_upload_not_completed" if pending else "file_not_found")
            channel = self._resolve_channel(call.args.get("channel_id"))
            if call.args.get("channel_id") and channel is None:
                return _error("channel_not_found")
            self.files[entry["id"]] = {"name": pending["name"], "content": pending["content"],
                                       "channels": [channel.id] if channel else [],
                                       "comment": call.args.get("initial_comment", "")}
            done.append({"id": entry["id"], "title": entry.get("title") or pending["name"], "name": pending["name"]})
        channel = self._resolve_channel(call.args.get("channel_id"))
        if channel is not None and done:
            # Shared into a conversation, the files arrive as one message of the bot's whose text is
            # the initial comment (as Slack shows an upload in the channel).
            ts = self._next_ts()
            channel.messages[ts] = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id,
                                    "team": self.team_id, "text": call.args.get("initial_comment", ""),
                                    "files": [{"id": f["id"], "name": f["name"], "title": f["title"]} for f in done],
                                    "upload": True, "ts": ts}
        return {"ok": True, "files": done}

    async def _users_info(self, call: Call, request: web.Request) -> JSON:
        user = self.users.get(str(call.args.get("user", "")))
        if user is None:
            return _error("user_not_found")
        return {"ok": True, "user": user}

    async def _users_list(self, call: Call, request: web.Request) -> JSON:
        """Paged like Slack's: `limit` per page, an opaque cursor for the next page."""
        users = list(self.users.values())
        limit = int(call.args.get("limit") or 100)
        start = int(call.args.get("cursor") or 0)
        page = users[start:start + limit]
        following = str(start + limit) if start + limit < len(users) else ""
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": following}}

    async def _users_lookup_by_email(self, call: Call, request: web.Request) -> JSON:
        email = str(call.args.get("email", "")).lower()
        for user in self.users.values():
            if email and (user["profile"].get("email") or "").lower() == email:
                return {"ok": True, "user": user}
        return _error("users_not_found")

    async def _oauth_v2_access(self, call: Call, request: web.Request) -> JSON:
        client_id, client_secret = _basic_auth(request)
        client_id = client_id or call.args.get("client_id")
        client_secret = client_secret or call.args.get("client_secret")
        if not client_id or (self.client_id is not None and client_id != self.client_id):
            return _error("invalid_client_id")
        if not client_secret or (self.client_secret is not None and client_secret != self.client_secret):
            return _error("bad_client_secret")

        if call.args.get("grant_type") == "refresh_token":
            if call.args.get("refresh_token") not in self._refresh_tokens:
                return _error("invalid_refresh_token")
        elif not call.args.get("code"):
            return _error("invalid_code")

        # With token rotation every grant returns a fresh 12-hour access token and refresh token;
        # earlier tokens stay usable until they expire, which never happens here.
        n = next(self._token_count)
        access_token, refresh_token = f"xoxe.xoxb-{n}", f"xoxe-1-{n}"
        self.valid_tokens.add(access_token)
        self._refresh_tokens.add(refresh_token)
        return {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": self.installer_user_id},
            "scope": _BOT_SCOPES,
            "token_type": "bot",
            "access_token": access_token,
            "bot_user_id": self.bot_user_id,
            "refresh_token": refresh_token,
            "expires_in": 43200,
            "team": {"id": self.team_id, "name": "Pairbot Test"},
            "enterprise": None,
            "is_enterprise_install": False,
        }


# ---------------------------------------------------------------------- helpers


def _error(error: str) -> JSON:
    return {"ok": False, "error": error}


async def _read_arguments(request: web.Request) -> dict[str, Any]:
    """Merge query and body arguments the way Slack reads them (body wins)."""
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.text()
        body = json.loads(raw) if raw.strip() else {}
        if isinstance(body, dict):
            args.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                args[key] = {"filename": value.filename, "content": value.file.read()}
            else:
                args[key] = value
    for key in _JSON_ARGUMENTS:
        value = args.get(key)
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            try:
                args[key] = json.loads(value)
            except json.JSONDecodeError:
                pass  # Slack would reject it later as invalid_blocks etc.; keep the text for the test to see
    return args


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _basic_auth(request: web.Request) -> tuple[str | None, str | None]:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(value.strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, client_secret = decoded.partition(":")
    return client_id or None, client_secret or None


def _utc_offset_seconds(tz: str) -> int:
    try:
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    return int(offset.total_seconds()) if offset is not None else 0
