"""Bot Framework authentication that never blocks the event loop, and gives up in bounded time.

botbuilder 4.17 (checked 2026-11) does two blocking things inside async code: the OpenID metadata
refresh used to check inbound tokens (jwt_token_extractor._OpenIdMetadata._refresh) calls
requests.get with no timeout, and the app credentials (MicrosoftAppCredentials.get_access_token,
through msal) fetch a token while msrest signs each outbound request. A login endpoint that hangs
(a filtering proxy) would freeze the whole process. Here both run in a small thread pool of their
own, with connect/read timeouts and an overall bound, one fetch at a time per resource:

- `OffLoopOpenIdMetadata` takes the place of botbuilder's metadata object in
  `JwtTokenExtractor.metadataCache` for the URLs tokens are checked against;
- `AppToken` (a MicrosoftAppCredentials) fetches its token off the loop before a connector client
  is made (`TokenReadyConnectors`) and only ever hands out the token it already has.

tests/test_teams_auth.py pins the botbuilder internals this relies on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, TypeVar

import requests
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import (AuthenticateRequestResult, AuthenticationConfiguration,
                                         AuthenticationConstants, BotFrameworkAuthentication,
                                         BotFrameworkAuthenticationFactory, ClaimsIdentity, ConnectorFactory,
                                         MicrosoftAppCredentials, ServiceClientCredentialsFactory)
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor, _OpenIdMetadata
from msal import ConfidentialClientApplication, ManagedIdentityClient, UserAssignedManagedIdentity

from bot.config import TeamsSettings
from bot.health import Health

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_PART = "token:teams"
HTTP_TIMEOUT = (3.05, 5.0)  # requests' (connect, read) for each call to a login endpoint
FETCH_SECONDS = 8.0  # one metadata refresh or token fetch, however many round trips it takes
QUIET_AFTER_FAILURE = 2.0  # callers are told at once for this long after a failure: no pile-up
TOKEN_MARGIN_SECONDS = 300.0  # a token this close to expiry is fetched afresh
CONNECTOR_TIMEOUT = (3.05, 10.0)
CLIENTS_KEPT = 64  # service URLs (one per region) and identities are few  # each call to the Bot Connector service (msrest's default: 100 s)
# The tenant Bot Framework tokens come from for a multi-tenant bot (AuthenticationConstants).
DEFAULT_TENANT = AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT


class ValidationUnavailable(Exception):
    """The signing keys could not be read, so no token can be checked now (answer 503, not 401)."""


class TokenUnavailable(Exception):
    """No Bot Framework token for outbound calls. `refused`: the login service said no (a wrong or
    expired secret), which waiting a few seconds will not fix."""

    def __init__(self, reason: str, refused: bool = False):
        super().__init__(reason)
        self.refused = refused


class _OneAtATime:
    """A blocking call run in `pool` with an overall bound. Callers that come while it runs share
    it, so a hung endpoint ties up one thread, not one per request."""

    def __init__(self, pool: ThreadPoolExecutor, seconds: float = FETCH_SECONDS):
        self.pool = pool
        self.seconds = seconds
        self._running: asyncio.Future | None = None
        self._failed: tuple[float, Exception] | None = None

    async def run(self, blocking: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        if self._failed is not None and time.monotonic() - self._failed[0] < QUIET_AFTER_FAILURE:
            raise self._failed[1]
        running = self._running
        if running is None or running.done() or running.get_loop() is not loop:
            running = self._running = loop.run_in_executor(self.pool, blocking)
        try:
            result = await asyncio.wait_for(asyncio.shield(running), self.seconds)
        except asyncio.TimeoutError:
            failure = TimeoutError(f"no answer within {self.seconds:.0f} s")
            self._failed = (time.monotonic(), failure)
            raise failure from None
        except Exception as failure:
            self._failed = (time.monotonic(), failure)
            raise
        self._failed = None
        return result


def _why(failure: BaseException) -> str:
    return f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__


class OffLoopOpenIdMetadata(_OpenIdMetadata):
    """botbuilder's OpenID metadata (signing keys, cached a day) with its refresh off the loop."""

    def __init__(self, url: str, pool: ThreadPoolExecutor):
        super().__init__(url)
        self._fetch = _OneAtATime(pool)

    async def _refresh(self) -> None:
        try:
            keys = await self._fetch.run(self._read_keys)
        except Exception as failure:
            raise ValidationUnavailable(f"could not read the Bot Framework signing keys from {self.url}: "
                                        f"{_why(failure)}") from None
        self.keys = keys
        self.last_updated = datetime.now()  # naive local time, as botbuilder compares it

    def _read_keys(self) -> list[dict]:
        with requests.Session() as session:
            metadata = session.get(self.url, timeout=HTTP_TIMEOUT)
            metadata.raise_for_status()
            keys = session.get(metadata.json()["jwks_uri"], timeout=HTTP_TIMEOUT)
            keys.raise_for_status()
            return keys.json()["keys"]


def install_metadata(urls: list[str], pool: ThreadPoolExecutor) -> None:
    """Make botbuilder's token extractors use OffLoopOpenIdMetadata for these URLs (its cache is
    process-wide, keyed by URL)."""
    for url in urls:
        if not isinstance(JwtTokenExtractor.metadataCache.get(url), OffLoopOpenIdMetadata):
            JwtTokenExtractor.metadataCache[url] = OffLoopOpenIdMetadata(url, pool)


class _TimedHttp:
    """The http client msal's managed identity client is given: requests with our timeouts (msal
    passes none, so a hung identity endpoint would hold its thread for ever)."""

    def __init__(self) -> None:
        self._session = requests.Session()

    def get(self, url, **kwargs):
        return self._session.get(url, timeout=HTTP_TIMEOUT, **kwargs)

    def post(self, url, **kwargs):
        return self._session.post(url, timeout=HTTP_TIMEOUT, **kwargs)

    def close(self) -> None:
        self._session.close()


class AppToken(MicrosoftAppCredentials):
    """The bot's token for one audience. `ready()` fetches it off the loop; msrest's synchronous
    signing (get_access_token) only reads the one already fetched, never the network.
    `managed_identity`: the token comes from the Azure host's identity endpoint for the app id
    (a user-assigned managed identity, [teams] app_type = "UserAssignedMSI"), not with a secret."""

    def __init__(self, app_id: str, password: str, tenant: str, scope: str, login_url: str,
                 pool: ThreadPoolExecutor, managed_identity: bool = False):
        super().__init__(app_id, password, tenant or None, scope)
        self.oauth_endpoint = login_url + self.tenant
        self.managed_identity = managed_identity
        self._fetch = _OneAtATime(pool)
        self._msal: ConfidentialClientApplication | None = None
        self._identity: ManagedIdentityClient | None = None
        self._token = ""
        self._expires = 0.0  # time.time()

    @property
    def source(self) -> str:
        return ("the Azure managed identity endpoint" if self.managed_identity
                else f"the Microsoft login service at {self.oauth_endpoint}")

    async def ready(self) -> None:
        if self._token and self._expires - time.time() > TOKEN_MARGIN_SECONDS:
            return
        try:
            self._token, self._expires = await self._fetch.run(self._acquire)
        except TokenUnavailable:
            raise
        except Exception as failure:
            raise TokenUnavailable(f"no answer from {self.source}: {_why(failure)}") from None

    def _acquire(self) -> tuple[str, float]:
        if self.managed_identity:
            return self._acquire_from_identity()
        if self._msal is None:
            # msal reads the authority's OpenID configuration here, over the network; the
            # operator chose the login URL, so msal's instance discovery (another host) is skipped.
            self._msal = ConfidentialClientApplication(self.microsoft_app_id, client_credential=self.microsoft_app_password,
                                                       authority=self.oauth_endpoint, timeout=HTTP_TIMEOUT,
                                                       instance_discovery=False)
        scope = self.oauth_scope if self.oauth_scope.endswith("/.default") else self.oauth_scope + "/.default"
        answer = self._msal.acquire_token_for_client(scopes=[scope])
        if "access_token" not in answer:
            raise TokenUnavailable(f"the Microsoft login service refused the app's credentials: "
                                   f"{answer.get('error', 'unknown error')}", refused=True)
        return answer["access_token"], time.time() + float(answer.get("expires_in") or 3600)

    def _acquire_from_identity(self) -> tuple[str, float]:
        if self._identity is None:
            self._identity = ManagedIdentityClient(UserAssignedManagedIdentity(client_id=self.microsoft_app_id),
                                                   http_client=_TimedHttp())
        resource = self.oauth_scope.removesuffix("/.default")
        answer = self._identity.acquire_token_for_client(resource=resource)
        if "access_token" not in answer:
            raise TokenUnavailable(f"the Azure managed identity endpoint gave no token for app id "
                                   f"{self.microsoft_app_id}: {answer.get('error', 'unknown error')} "
                                   f"{answer.get('error_description', '')}".strip(), refused=True)
        return answer["access_token"], time.time() + float(answer.get("expires_in") or 3600)

    def get_access_token(self, force_refresh: bool = False) -> str:
        if self._token and time.time() < self._expires:
            return self._token
        raise TokenUnavailable("no Bot Framework token has been fetched yet")


class AppCredentials(ServiceClientCredentialsFactory):
    """The bot's app id and password, one AppToken per audience, and what happens to them in Health."""

    def __init__(self, settings: TeamsSettings, health: Health, pool: ThreadPoolExecutor):
        self.app_id = settings.app_id
        self.password = settings.app_password
        self.tenant = settings.tenant_id if settings.app_type == "SingleTenant" else ""
        self.managed_identity = settings.app_type == "UserAssignedMSI"
        self.login_url = settings.login_url
        self.health = health
        self.pool = pool
        self._tokens: dict[str, AppToken] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self.app_id

    async def is_authentication_disabled(self) -> bool:
        return not self.app_id

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool) -> MicrosoftAppCredentials:
        if not self.app_id:
            return MicrosoftAppCredentials.empty()
        if app_id != self.app_id:
            raise PermissionError("a token for another app")
        return self.token_for(oauth_scope)

    def token_for(self, scope: str | None) -> AppToken:
        scope = scope or AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        if scope not in self._tokens:
            self._tokens[scope] = AppToken(self.app_id, self.password, self.tenant, scope, self.login_url, self.pool,
                                           managed_identity=self.managed_identity)
        return self._tokens[scope]

    async def ready(self, scope: str | None = None) -> None:
        """Have a token for `scope` before a connector client uses it; raises TokenUnavailable."""
        if not self.app_id:
            return
        try:
            await self.token_for(scope).ready()
        except TokenUnavailable as missing:
            if self.health.trouble(TOKEN_PART, str(missing)):
                log.error("%s cannot work: %s; sends wait and are retried", TOKEN_PART, missing)
            raise
        ended = self.health.fine(TOKEN_PART)
        if ended is not None:
            log.warning("%s works again after %.0f s (%s)", TOKEN_PART, time.time() - ended.since, ended.reason)


class TokenReadyConnectors(ConnectorFactory):
    """botbuilder's connector factory, with the token fetched off the loop first, a timeout on
    every call to the Bot Connector service, and one client per service URL and audience: making
    a client builds msrest's retry policy, a few milliseconds of CPU, which was most of the cost of
    a proactive send (botbuilder's own BotFrameworkAdapter keeps a cache like this one)."""

    def __init__(self, inner: ConnectorFactory, credentials: AppCredentials, clients: dict | None = None):
        self.inner = inner
        self.credentials = credentials
        self.clients = clients if clients is not None else {}

    async def create(self, service_url: str, audience: str = None):
        try:
            await self.credentials.ready(audience)
        except TokenUnavailable:
            pass  # the turn still runs; a reply it cannot send goes through the outbox
        key = (service_url, audience)
        client = self.clients.get(key)
        if client is None:
            client = await self.inner.create(service_url, audience)
            client.config.connection.timeout = CONNECTOR_TIMEOUT
            if len(self.clients) >= CLIENTS_KEPT:
                self.clients.pop(next(iter(self.clients)))
            self.clients[key] = client
        return client


class OffLoopAuthentication(BotFrameworkAuthentication):
    """botbuilder's parameterized authentication (public cloud values unless the config says
    otherwise), with tokens nobody can read refused as 401 and connector factories token-ready."""

    def __init__(self, inner: BotFrameworkAuthentication, credentials: AppCredentials):
        self.inner = inner
        self.credentials = credentials
        self._connectors: dict = {}  # (service URL, audience) -> connector client, shared by turns
        self._user_token_clients: dict = {}

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        # CloudAdapter passes "" for a missing header; the parameterized path tests `is None`
        # (the built-in one `not`), so without this a bot without an app id would refuse everything.
        try:
            result = await self.inner.authenticate_request(activity, auth_header or None)
        except (PermissionError, ValidationUnavailable):
            raise
        except Exception as unreadable:  # not a JWT, an unknown key id: botbuilder lets these escape
            raise PermissionError(f"a token that cannot be read ({type(unreadable).__name__})") from None
        result.connector_factory = TokenReadyConnectors(result.connector_factory, self.credentials,
                                                         self._connectors)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str):
        return await self.inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return TokenReadyConnectors(self.inner.create_connector_factory(claims_identity), self.credentials,
                                    self._connectors)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity):
        # botbuilder makes one per turn (proactive sends too) and we never use it for sign-ins;
        # one per identity saves building its msrest client every time.
        key = repr((sorted((claims_identity.claims or {}).items()), claims_identity.is_authenticated))
        client = self._user_token_clients.get(key)
        if client is None:
            client = await self.inner.create_user_token_client(claims_identity)
            if len(self._user_token_clients) >= CLIENTS_KEPT:
                self._user_token_clients.pop(next(iter(self._user_token_clients)))
            self._user_token_clients[key] = client
        return client

    def create_bot_framework_client(self):
        return self.inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self.inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self.inner.authenticate_channel_request(auth_header)


@dataclass
class TeamsAuth:
    authentication: OffLoopAuthentication
    credentials: AppCredentials
    pool: ThreadPoolExecutor

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def emulator_metadata_url(login_url: str) -> str:
    """Where Azure AD publishes its signing keys (botbuilder checks emulator and skill tokens there)."""
    return login_url + "common/v2.0/.well-known/openid-configuration"


def build(settings: TeamsSettings, health: Health) -> TeamsAuth:
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="teams-login")
    credentials = AppCredentials(settings, health, pool)
    emulator = emulator_metadata_url(settings.login_url)
    install_metadata([settings.openid_metadata_url, emulator], pool)
    inner = BotFrameworkAuthenticationFactory.create(
        validate_authority=True,
        to_channel_from_bot_login_url=settings.login_url,
        to_channel_from_bot_oauth_scope=AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        to_bot_from_channel_token_issuer=AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
        oauth_url=AuthenticationConstants.OAUTH_URL,
        to_bot_from_channel_open_id_metadata_url=settings.openid_metadata_url,
        to_bot_from_emulator_open_id_metadata_url=emulator,
        caller_id=CallerIdConstants.public_azure_channel,
        credential_factory=credentials,
        auth_configuration=AuthenticationConfiguration(),
    )
    return TeamsAuth(OffLoopAuthentication(inner, credentials), credentials, pool)
