"""adapters/teams/auth.py: what it relies on in botbuilder, and what an operator sees when the
Microsoft login service refuses the app's secret or does not answer."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import ipaddress
import ssl
import threading
import time

import pytest
from aiohttp import web
from botframework.connector.auth import AuthenticationConstants, VerifyOptions
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor, _OpenIdMetadata
from botframework.connector.auth.microsoft_app_credentials import MicrosoftAppCredentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.teams import auth
from bot.config import TeamsSettings
from bot.health import Health
from bot.sending import RetryLater
from adapters.teams.app import _classify

APP_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"


def test_botbuilder_still_reads_signing_keys_through_the_cache_and_the_refresh_we_replace():
    """If botbuilder changes these, OffLoopOpenIdMetadata no longer takes the place of its
    blocking refresh: this fails instead of the event loop freezing in production."""
    url = "https://keys.example/v1/.well-known/openidconfiguration"
    with auth.ThreadPoolExecutor(1) as pool:
        auth.install_metadata([url], pool)
        extractor = JwtTokenExtractor(VerifyOptions(issuer=[], audience=None, clock_tolerance=0,
                                                    ignore_expiration=False), url, ["RS256"])
        assert isinstance(extractor.open_id_metadata, auth.OffLoopOpenIdMetadata)
    assert inspect.iscoroutinefunction(_OpenIdMetadata._refresh)
    assert "_refresh" in inspect.getsource(_OpenIdMetadata.get)
    # msrest signs requests with get_access_token (synchronously); AppToken overrides exactly that.
    assert "get_access_token" in MicrosoftAppCredentials.__dict__
    assert "get_access_token" in auth.AppToken.__dict__
    assert auth.DEFAULT_TENANT == AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "login.pem", tmp_path / "login.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def refusing_login_service(tmp_path, monkeypatch):
    """A loopback login service (HTTPS, as msal insists) that refuses the client secret."""
    cert_file, key_file = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))  # requests (msal's client) trusts it
    base = {}

    async def openid(request):
        tenant = request.match_info["tenant"]
        return web.json_response({"issuer": f"{base['url']}{tenant}/v2.0",
                                  "authorization_endpoint": f"{base['url']}{tenant}/oauth2/v2.0/authorize",
                                  "token_endpoint": f"{base['url']}{tenant}/oauth2/v2.0/token"})

    async def token(request):
        return web.json_response({"error": "invalid_client",
                                  "error_description": "AADSTS7000215: Invalid client secret provided."},
                                 status=401)

    app = web.Application()
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    base["url"] = f"https://127.0.0.1:{runner.addresses[0][1]}/"
    return runner, base["url"]


def test_a_refused_secret_is_health_trouble_token_teams_and_sends_wait_long(tmp_path, monkeypatch):
    async def scenario():
        runner, url = await refusing_login_service(tmp_path, monkeypatch)
        health = Health()
        settings = TeamsSettings(enabled=True, app_id=APP_ID, app_password="wrong", login_url=url)
        built = auth.build(settings, health)
        try:
            with pytest.raises(auth.TokenUnavailable) as refused:
                await built.credentials.ready()
            assert refused.value.refused and "invalid_client" in str(refused.value)
            assert "invalid_client" in health.troubles()[auth.TOKEN_PART].reason
            later = _classify(refused.value)
            assert isinstance(later, RetryLater) and later.after_seconds >= 600
        finally:
            built.close()
            await runner.cleanup()

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


def test_a_login_service_that_never_answers_fails_within_the_bound_and_ties_up_one_thread(tmp_path):
    import socket

    async def scenario():
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        health = Health()
        built = auth.build(TeamsSettings(enabled=True, app_id=APP_ID, app_password="s", login_url=url), health)
        threads_before = threading.active_count()
        ticks = 0

        async def loop_keeps_running():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(loop_keeps_running())
        started = time.monotonic()
        try:
            results = await asyncio.gather(*(built.credentials.ready() for _ in range(20)), return_exceptions=True)
            took = time.monotonic() - started
            assert all(isinstance(r, auth.TokenUnavailable) and not r.refused for r in results), results
            assert took < auth.FETCH_SECONDS + 2
            assert ticks > took / 0.05 * 0.5, "the event loop was blocked"
            assert threading.active_count() - threads_before <= 1  # twenty callers, one fetch
            assert auth.TOKEN_PART in health.troubles()
            # and a send made meanwhile is told at once, without waiting again
            quick = time.monotonic()
            with pytest.raises(auth.TokenUnavailable):
                await built.credentials.ready()
            assert time.monotonic() - quick < 1
        finally:
            ticker.cancel()
            built.close()
            listener.close()

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


async def identity_endpoint(answer):
    """A loopback Azure App Service identity endpoint (IDENTITY_ENDPOINT): `answer(request)` says
    what it does with each token request."""
    seen = []

    async def token(request):
        seen.append(request)
        return await answer(request)

    app = web.Application()
    app.router.add_get("/msi/token", token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/msi/token", seen


def test_a_managed_identity_gets_its_token_from_the_identity_endpoint_off_the_loop(monkeypatch):
    async def scenario():
        async def grant(request):
            return web.json_response({"access_token": "token-from-the-identity", "token_type": "Bearer",
                                      "expires_on": str(int(time.time()) + 3600),
                                      "resource": request.query["resource"]})

        runner, url, seen = await identity_endpoint(grant)
        monkeypatch.setenv("IDENTITY_ENDPOINT", url)
        monkeypatch.setenv("IDENTITY_HEADER", "header-from-the-host")
        health = Health()
        built = auth.build(TeamsSettings(enabled=True, app_id=APP_ID, app_type="UserAssignedMSI"), health)
        try:
            await built.credentials.ready()
            assert built.credentials.token_for(None).get_access_token() == "token-from-the-identity"
            [asked] = seen
            assert asked.query["client_id"] == APP_ID  # the user-assigned identity is the bot's app id
            assert asked.query["resource"] == "https://api.botframework.com"
            assert asked.headers["X-IDENTITY-HEADER"] == "header-from-the-host"
            await built.credentials.ready()
            assert len(seen) == 1  # kept until it nears expiry
            assert auth.TOKEN_PART not in health.troubles()
        finally:
            built.close()
            await runner.cleanup()

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


def test_a_managed_identity_endpoint_that_hangs_fails_within_the_bound_and_the_loop_runs_on(monkeypatch):
    async def scenario():
        over = asyncio.Event()

        async def hang(request):
            await over.wait()  # answers only when the test is over
            return web.Response(status=503)

        runner, url, seen = await identity_endpoint(hang)
        monkeypatch.setenv("IDENTITY_ENDPOINT", url)
        monkeypatch.setenv("IDENTITY_HEADER", "h")
        health = Health()
        built = auth.build(TeamsSettings(enabled=True, app_id=APP_ID, app_type="UserAssignedMSI"), health)
        ticks = 0

        async def loop_keeps_running():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(loop_keeps_running())
        started = time.monotonic()
        try:
            with pytest.raises(auth.TokenUnavailable) as missing:
                await built.credentials.ready()
            took = time.monotonic() - started
            assert not missing.value.refused and "managed identity" in str(missing.value)
            assert took < auth.FETCH_SECONDS + 2
            assert ticks > took / 0.05 * 0.5, "the event loop was blocked"
            assert "managed identity" in health.troubles()[auth.TOKEN_PART].reason
        finally:
            over.set()
            ticker.cancel()
            built.close()
            await runner.cleanup()

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


def test_every_app_type_is_served_by_the_off_loop_authentication(tmp_path):
    from adapters.teams.app import build
    from bot.clock import ManualClock
    from bot.core import Pairbot
    from bot.db import Database
    from bot import migrate

    db = Database(f"sqlite:///{tmp_path / 'p.sqlite'}")
    migrate.upgrade(db.engine)
    core = Pairbot(db, ManualClock(dt.datetime(2026, 12, 1, 9, tzinfo=dt.timezone.utc)))
    for app_type in ("MultiTenant", "SingleTenant", "UserAssignedMSI"):
        settings = TeamsSettings(enabled=True, app_id=APP_ID, app_password="" if app_type == "UserAssignedMSI" else "s",
                                 app_type=app_type, tenant_id="t1" if app_type == "SingleTenant" else "")
        adapter = build(core, settings)
        try:
            assert isinstance(adapter.auth.authentication, auth.OffLoopAuthentication), app_type
            assert adapter.sender.credentials is adapter.auth.credentials
        finally:
            adapter.auth.close()
    db.dispose()
