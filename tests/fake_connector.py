"""A fake Bot Framework Connector service (the Teams "serviceUrl") on loopback.

Tests run the real botbuilder ``CloudAdapter`` and point inbound activities' ``serviceUrl`` at
``fake.service_url``; everything the bot then sends through botframework-connector (replies,
proactive messages, updates, deletes, conversation creation, member look-ups) arrives here.

It answers the Bot Connector v3 REST paths that ``botframework.connector.aio.ConnectorClient`` uses:

=======  ==========================================================  ==============================
POST     /v3/conversations                                           create_conversation
POST     /v3/conversations/{conversationId}/activities               send_to_conversation
POST     /v3/conversations/{conversationId}/activities/{activityId}  reply_to_activity
PUT      /v3/conversations/{conversationId}/activities/{activityId}  update_activity
DELETE   /v3/conversations/{conversationId}/activities/{activityId}  delete_activity
GET      /v3/conversations/{conversationId}/members                  get_conversation_members
GET      /v3/conversations/{conversationId}/members/{memberId}       get_conversation_member
GET      /v3/conversations/{conversationId}/pagedmembers             get_conversation_paged_members
=======  ==========================================================  ==============================

botframework-connector percent-encodes every path argument with ``quote(value, safe="")`` (msrest
``Serializer.url``), so ``a:1`` arrives as ``a%3A1`` and ``19:x@thread.tacv2`` as
``19%3Ax%40thread.tacv2``; an id containing "/" arrives as ``%2F``. The fake splits the *raw* path on
"/" before decoding each segment, so such ids come back exactly.

Usage::

    async with FakeConnector() as fake:
        ...  # POST an activity with "serviceUrl": fake.service_url to the bot
        assert fake.to("a:1")[0].activity["text"] == "echo: hi"

``sent`` holds every activity the bot sent, updated or deleted (in arrival order, successful requests
only); ``requests`` holds every request received, including failed ones and GETs, with the HTTP
status answered. ``fail()`` makes the next matching requests answer with an HTTP error and a Bot
Framework error body.

Opt-in, for load: ``latency`` answers every connector request that many seconds after it arrived,
and ``enforce_limits=True`` answers HTTP 429 with Retry-After past Teams' documented limits
(``TeamsLimits``: per conversation and per app), counting each in ``throttled``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from rate_limits import Limit, Window, admit

JSON = dict[str, Any]

# Error codes the real service uses for these statuses (Teams / Bot Connector), used when fail()
# is not given a code.
_DEFAULT_ERROR_CODES = {
    400: "BadArgument",
    401: "Unauthorized",
    403: "ConversationBlockedByUser",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "MessageSizeTooBig",
    429: "Throttled",
    500: "InternalServerError",
    502: "ServiceError",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class Sent:
    """One request the bot made to the connector (an activity sent, updated or deleted, or any other
    call when read from ``FakeConnector.requests``)."""

    method: str  # "POST" | "PUT" | "DELETE" (| "GET" in ``requests``)
    path: str  # decoded and relative to the service URL, e.g. "/v3/conversations/a:1/activities/123"
    conversation_id: str  # "" for POST /v3/conversations until it is answered
    activity_id: str | None  # from the path: the reply-to id of a reply, the id updated or deleted
    activity: JSON  # the JSON body ({} when there is none)
    at: float = field(default_factory=time.monotonic)
    auth: str | None = None  # the Authorization header, if any
    status: int = 200  # the HTTP status the fake answered
    raw_path: str = ""  # the path as received (percent-encoded), relative to the service URL
    id: str | None = None  # the id the fake gave the activity (new activity; the updated one for PUT)


@dataclass(frozen=True)
class TeamsLimits:
    """Teams' limits for bots (learn.microsoft.com "Optimize your bot with rate limiting in Teams",
    2026-12), as (requests, seconds) windows: per bot per conversation ("thread") 7 in 1 s, 8 in 2 s,
    60 in 30 s, 1800 in 3600 s; and 50 requests a second per app per tenant. Every request counts
    (sends, updates, member look-ups)."""

    per_conversation: tuple[tuple[int, float], ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
    per_app: tuple[tuple[int, float], ...] = ((50, 1.0),)


@dataclass
class _Injection:
    status: int
    remaining: int
    when: Callable[[Sent], bool] | None
    code: str
    message: str
    retry_after: int | None

    def matches(self, request: Sent) -> bool:
        return self.remaining > 0 and (self.when is None or bool(self.when(request)))


class _ConnectorError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class FakeConnector:
    """In-process imitation of the Bot Connector v3 REST API used by botbuilder's ConnectorClient.

    ``strict`` (default True): PUT / DELETE of an activity id this fake never issued in that
    conversation answers 404 (as the real service does), which catches wrong ids. Replies to unknown
    ids are always accepted, since the activities users send are not known to the fake.
    ``path_prefix`` imitates service URLs with a path, such as Teams' ``.../emea/``.
    """

    def __init__(self, *, strict: bool = True, path_prefix: str = "", latency: float = 0.0,
                 enforce_limits: bool = False, limits: TeamsLimits = TeamsLimits()) -> None:
        self.strict = strict
        self.path_prefix = path_prefix.strip("/")
        self.sent: list[Sent] = []
        self.requests: list[Sent] = []
        self.members: dict[str, list[JSON]] = {}  # conversation id -> members (ChannelAccount JSON)
        # Files people attach in a personal chat; Teams gives the bot a pre-authorised download URL.
        self.files: dict[str, bytes] = {}
        # Files the bot put in someone's OneDrive after a file consent card: upload id -> bytes.
        self.uploaded: dict[str, bytes] = {}
        self.created: list[Sent] = []  # successful POST /v3/conversations, conversation_id = new id

        self._activities: dict[str, dict[str, JSON]] = {}  # conversation id -> activity id -> activity
        self._personal: dict[tuple[str, str], str] = {}  # (tenant, member id) -> 1:1 conversation id
        self._injections: list[_Injection] = []
        self._activity_ids = itertools.count(1_700_000_000_001)
        self._conversation_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self.latency = latency
        self.enforce_limits = enforce_limits
        self.limits = limits
        self.throttled = 0  # requests answered 429 by enforce_limits
        self._app_windows = [Window(n, seconds) for n, seconds in limits.per_app]
        self._conversation_windows: dict[str, list[Window]] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeConnector:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def service_url(self) -> str:
        """``http://127.0.0.1:PORT/`` (with the path prefix, if any), trailing slash as Teams sends it."""
        if self._base_url is None:
            raise RuntimeError("FakeConnector is not started; await fake.start() first")
        return self._base_url + (self.path_prefix + "/" if self.path_prefix else "")

    # ------------------------------------------------------------------ set-up and inspection

    def to(self, conversation_id: str) -> list[Sent]:
        """What the bot sent, updated or deleted in one conversation, in order."""
        return [sent for sent in self.sent if sent.conversation_id == conversation_id]

    def conversation(self, conversation_id: str) -> list[JSON]:
        """The conversation's bot activities as they stand now (updates applied, deletions removed)."""
        return list(self._activities.get(conversation_id, {}).values())

    def add_member(self, conversation_id: str, member: JSON) -> None:
        """Make ``member`` (``{"id", "name", "aadObjectId", "email", "userPrincipalName", ...}``) a member
        of the conversation, as returned by the members endpoints. Replaces a member with the same id."""
        members = self.members.setdefault(conversation_id, [])
        members[:] = [existing for existing in members if existing.get("id") != member.get("id")]
        members.append(dict(member))

    def fail(
        self,
        status: int,
        times: int = 1,
        when: Callable[[Sent], bool] | None = None,
        retry_after: int | None = None,
        *,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (only those where ``when(request)`` is true, if given) with
        HTTP ``status`` and ``{"error": {"code": ..., "message": ...}}``, plus ``Retry-After`` when given.

        ``when`` receives a ``Sent`` describing the request (method, decoded path, conversation id,
        activity id from the path, JSON body, auth). Every request counts, GETs included, so use
        ``when`` to target one kind. Injections queue: each request consumes from the first matching one.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        self._injections.append(
            _Injection(
                status=status,
                remaining=times,
                when=when,
                code=code or _DEFAULT_ERROR_CODES.get(status, "ServiceError"),
                message=message or f"Injected failure (HTTP {status})",
                retry_after=retry_after,
            )
        )

    def pending_failures(self) -> int:
        """How many injected failures have not been used yet."""
        return sum(injection.remaining for injection in self._injections)

    # ------------------------------------------------------------------ HTTP

    def share_file(self, name: str, content: bytes, file_type: str = "csv") -> JSON:
        """The attachment of a message in which a person sends a file to the bot (Teams'
        file.download.info; the download URL needs no token, as SharePoint's pre-authorised ones)."""
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": name,
                "content": {"downloadUrl": f"{self._base_url}/files/{file_id}", "uniqueId": file_id,
                            "fileType": file_type}}

    def upload_info(self, name: str) -> JSON:
        """What Teams puts in a fileConsent/invoke when the person accepts: where to PUT the file."""
        upload_id = f"up-{len(self.uploaded) + 1}"
        return {"name": name, "uniqueId": upload_id, "fileType": name.rsplit(".", 1)[-1],
                "uploadUrl": f"{self._base_url}/onedrive/{upload_id}",
                "contentUrl": f"https://onedrive.example/personal/{name}"}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._answer(request)
        if self.latency:
            await asyncio.sleep(self.latency)  # the network and the service's own time, both ways
        return response

    def _limits_for(self, info: Sent) -> list[Limit]:
        if not info.path.startswith("/v3/"):
            return []
        if not info.conversation_id:
            return list(self._app_windows)
        windows = self._conversation_windows.get(info.conversation_id)
        if windows is None:
            windows = [Window(n, seconds) for n, seconds in self.limits.per_conversation]
            self._conversation_windows[info.conversation_id] = windows
        return [*self._app_windows, *windows]

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?", 1)[0]
        raw_segments = [segment for segment in raw_path.split("/") if segment]
        if raw_segments[:1] == ["onedrive"] and request.method == "PUT" and len(raw_segments) == 2:
            data = await request.read()
            expected = f"bytes 0-{len(data) - 1}/{len(data)}"
            if request.headers.get("Content-Range") != expected:
                return web.Response(status=400, text=f"Content-Range should be {expected}")
            self.uploaded[raw_segments[1]] = data
            return web.json_response({"id": raw_segments[1], "size": len(data)}, status=201)
        if raw_segments[:1] == ["files"] and request.method == "GET":
            content = self.files.get(raw_segments[1] if len(raw_segments) > 1 else "")
            return web.Response(body=content) if content is not None else web.Response(status=404)
        if self.path_prefix:
            prefix = self.path_prefix.split("/")
            if raw_segments[: len(prefix)] != prefix:
                return self._error(404, "NotFound", f"Unknown path {raw_path}")
            raw_segments = raw_segments[len(prefix) :]
        segments = [unquote(segment) for segment in raw_segments]

        body: JSON = {}
        if request.can_read_body:
            text = await request.text()
            if text:
                try:
                    parsed = json.loads(text)
                except json.JSONDecodeError:
                    return self._error(400, "BadSyntax", "Body is not JSON")
                body = parsed if isinstance(parsed, dict) else {"value": parsed}

        info = Sent(
            method=request.method,
            path="/" + "/".join(segments),
            conversation_id=segments[2] if len(segments) > 2 and segments[:2] == ["v3", "conversations"] else "",
            activity_id=segments[4] if len(segments) > 4 and segments[3] == "activities" else None,
            activity=body,
            auth=request.headers.get("Authorization"),
            raw_path="/" + "/".join(raw_segments),
        )
        self.requests.append(info)

        for injection in self._injections:
            if injection.matches(info):
                injection.remaining -= 1
                info.status = injection.status
                headers = {"Retry-After": str(injection.retry_after)} if injection.retry_after is not None else None
                return self._error(injection.status, injection.code, injection.message, headers)

        retry_after = admit(self._limits_for(info), time.monotonic()) if self.enforce_limits else 0
        if retry_after:
            self.throttled += 1
            info.status = 429
            return self._error(429, "Throttled", "Too many requests", {"Retry-After": str(retry_after)})

        try:
            result = self._route(info, segments)
        except _ConnectorError as problem:
            info.status = problem.status
            return self._error(problem.status, problem.code, problem.message)
        info.status = 200
        return web.json_response(result, status=200)

    def _route(self, info: Sent, segments: list[str]) -> Any:
        method = info.method
        if segments[:2] != ["v3", "conversations"]:
            raise _ConnectorError(404, "NotFound", f"Unknown path {info.path}")
        rest = segments[2:]
        if not rest:
            if method == "POST":
                return self._create_conversation(info)
            if method == "GET":
                return {"conversations": [{"id": cid} for cid in self._activities], "continuationToken": None}
        elif len(rest) == 2 and rest[1] == "activities" and method == "POST":
            return self._send(info, reply_to=None)
        elif len(rest) == 3 and rest[1] == "activities":
            if method == "POST":
                return self._send(info, reply_to=rest[2])
            if method == "PUT":
                return self._update(info, rest[2])
            if method == "DELETE":
                return self._delete(info, rest[2])
        elif len(rest) == 2 and rest[1] == "members" and method == "GET":
            return self.members.get(rest[0], [])
        elif len(rest) == 3 and rest[1] == "members" and method == "GET":
            for member in self.members.get(rest[0], []):
                if member.get("id") == rest[2]:
                    return member
            raise _ConnectorError(404, "NotFound", f"Member {rest[2]} is not in conversation {rest[0]}")
        elif len(rest) == 2 and rest[1] == "pagedmembers" and method == "GET":
            return {"members": self.members.get(rest[0], []), "continuationToken": None}
        raise _ConnectorError(405 if len(rest) <= 3 else 404, "BadArgument", f"Unsupported {method} {info.path}")

    def _new_activity_id(self) -> str:
        return str(next(self._activity_ids))

    def _send(self, info: Sent, reply_to: str | None) -> JSON:
        activity_id = self._new_activity_id()
        stored = dict(info.activity)
        stored["id"] = activity_id
        if reply_to is not None:
            stored.setdefault("replyToId", reply_to)
        self._activities.setdefault(info.conversation_id, {})[activity_id] = stored
        info.id = activity_id
        self.sent.append(info)
        return {"id": activity_id}

    def _update(self, info: Sent, activity_id: str) -> JSON:
        activities = self._activities.setdefault(info.conversation_id, {})
        if activity_id not in activities and self.strict:
            raise _ConnectorError(404, "NotFound", f"Activity {activity_id} not found in {info.conversation_id}")
        stored = dict(info.activity)
        stored["id"] = activity_id
        activities[activity_id] = stored
        info.id = activity_id
        self.sent.append(info)
        return {"id": activity_id}

    def _delete(self, info: Sent, activity_id: str) -> JSON:
        activities = self._activities.setdefault(info.conversation_id, {})
        if activity_id not in activities and self.strict:
            raise _ConnectorError(404, "NotFound", f"Activity {activity_id} not found in {info.conversation_id}")
        activities.pop(activity_id, None)
        info.id = activity_id
        self.sent.append(info)
        return {}

    def _create_conversation(self, info: Sent) -> JSON:
        params = info.activity
        members = [member for member in params.get("members") or [] if isinstance(member, dict)]
        tenant = params.get("tenantId") or (params.get("channelData") or {}).get("tenant", {}).get("id") or ""
        is_group = bool(params.get("isGroup"))
        if not members and not is_group:
            raise _ConnectorError(400, "BadArgument", "Conversation parameters need at least one member")

        # Teams gives the same 1:1 conversation back when one is created again for the same user.
        personal_key = (tenant, members[0].get("id", "")) if not is_group and len(members) == 1 else None
        if personal_key is not None and personal_key in self._personal:
            conversation_id = self._personal[personal_key]
        else:
            conversation_id = f"a:fake-conversation-{next(self._conversation_ids)}"
            if personal_key is not None:
                self._personal[personal_key] = conversation_id
        self._activities.setdefault(conversation_id, {})
        for member in members:
            known = any(existing.get("id") == member.get("id") for existing in self.members.get(conversation_id, []))
            if not known:
                self.add_member(conversation_id, member)

        info.conversation_id = conversation_id
        self.created.append(info)
        result: JSON = {"id": conversation_id, "serviceUrl": self.service_url}
        initial = params.get("activity")
        if isinstance(initial, dict) and initial:
            activity_id = self._new_activity_id()
            self._activities[conversation_id][activity_id] = {**initial, "id": activity_id}
            self.sent.append(
                Sent(
                    method="POST",
                    path=f"/v3/conversations/{conversation_id}/activities",
                    conversation_id=conversation_id,
                    activity_id=None,
                    activity=initial,
                    at=info.at,
                    auth=info.auth,
                    raw_path=info.raw_path,
                    id=activity_id,
                )
            )
            result["activityId"] = activity_id
        return result

    @staticmethod
    def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)
