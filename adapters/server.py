"""The aiohttp web server: Slack's endpoints, Teams' /api/messages, the health check and metrics.

The bolt app is reached through slack-bolt's aiohttp converters; everything else is ours.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from adapters.monitoring import Monitor, Watched
from adapters.slack import inbound
from bot.db import Database

log = logging.getLogger(__name__)

SLACK_EVENTS = "/slack/events"
TEAMS_MESSAGES = "/api/messages"
CALENDAR = "/calendar/{token}.ics"  # Teams' "Add to calendar" links (adapters/teams/calendar.py)
HEALTH = "/healthz"
METRICS = "/metrics"


def web_app(db: Database, slack: AsyncApp | None = None, teams=None, monitor: Monitor | None = None) -> web.Application:
    """`teams` is an adapters.teams.app.TeamsAdapter, when Teams is enabled; `monitor` looks at the
    running parts for /healthz and /metrics (without one, only the database is looked at)."""
    monitor = monitor or Monitor(Watched(db))
    app = web.Application(client_max_size=1024 * 1024)  # Slack and Teams payloads are well under 1 MB
    app.router.add_get(HEALTH, _health(monitor))
    app.router.add_get(METRICS, _metrics(monitor))
    if teams is not None:
        app.router.add_post(TEAMS_MESSAGES, _teams_messages(teams))
        if teams.calendar is not None:
            app.router.add_get(CALENDAR, _calendar_file(teams.calendar, teams.bot.core))
    if slack is not None:
        app.router.add_post(SLACK_EVENTS, _slack_events(slack))
        if slack.oauth_flow is not None:
            flow = slack.oauth_flow
            app.router.add_get(flow.install_path, _slack_oauth(flow.handle_installation))
            app.router.add_get(flow.redirect_uri_path, _slack_oauth(flow.handle_callback))
    return app


def _health(monitor: Monitor):
    async def health(request: web.Request) -> web.Response:
        scope = request.query.get("scope", "")
        if scope not in ("", "replica"):
            return web.json_response({"error": "scope must be 'replica' or left out"}, status=400)
        status, body = await monitor.healthz(scope)
        return web.json_response(body, status=status)

    return health


def _metrics(monitor: Monitor):
    async def metrics(_request: web.Request) -> web.Response:
        # CONTENT_TYPE_LATEST carries a version parameter, which aiohttp takes only as a header.
        return web.Response(body=await monitor.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


def _slack_events(slack: AsyncApp):
    # A payload of the wrong shape is refused only once its signature is known to be right, so an
    # unsigned request learns nothing but 401. slack-bolt 1.30 keeps the secret as _signing_secret
    # (tests/test_junk_requests.py fails if that changes).
    verifier = SignatureVerifier(slack._signing_secret)

    async def events(request: web.Request) -> web.Response:
        # bolt parses the body before it checks the signature, and a body it cannot read escapes
        # as a 500 with a traceback: that is a 400 here. The body itself is never logged.
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, AttributeError, TypeError, KeyError) as unreadable:
            # not JSON or form-encoded JSON, not UTF-8, or JSON that is not an object (bolt reads
            # fields of it while it builds the request)
            log.info("Slack: a request body that cannot be read (%s)", type(unreadable).__name__)
            return web.json_response({"error": "the body is not a Slack payload"}, status=400)
        if not inbound.is_slack_payload(bolt_request.body) and verifier.is_valid_request(
                bolt_request.raw_body, {k: v[0] for k, v in bolt_request.headers.items() if v}):
            return web.json_response({"error": "the body is not a Slack payload"}, status=400)
        # bolt checks the signature and the timestamp's age, and answers 401 itself if either is wrong.
        response = await slack.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    return events


def _teams_messages(teams):
    async def messages(request: web.Request) -> web.Response:
        response = await teams.process(request)
        return response if response is not None else web.Response(status=201)

    return messages


def _calendar_file(links, core):
    """A calendar link: the .ics of that person's copy as it is now. A token this server did not
    sign is 404; a copy that no longer exists (the person was erased) is 410."""

    async def calendar(request: web.Request) -> web.Response:
        invitation = links.read(request.match_info["token"])
        if invitation is None:
            return web.Response(status=404, text="This calendar link is not valid. Use the 'Add to calendar' "
                                                 "button on Pairbot's latest message about the meeting.")
        try:
            found = await asyncio.to_thread(core.calendar, invitation)
        except Exception:  # the database: say so rather than a traceback
            log.exception("could not make a calendar file")
            return web.Response(status=503, text="Pairbot can't make the calendar file just now; please try "
                                                 "again in a minute.", headers={"Retry-After": "60"})
        if found is None:
            return web.Response(status=410, text="This invitation is no longer available: the meeting or your "
                                                 "place in it is no longer held by Pairbot.")
        return web.Response(body=found.content.encode("utf-8"), content_type=found.media_type, charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{found.name}"',
                                     "Cache-Control": "no-store"})

    return calendar


def _slack_oauth(step):
    async def oauth(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await step(await to_bolt_request(request)))

    return oauth
