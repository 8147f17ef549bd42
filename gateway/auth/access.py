"""AccessControl: the one object every entrance asks, in open or closed mode.

Closed mode (``--apps-file`` given): every request needs a token from
``/oauth2/token:generate``; it is verified (signature, expiry, claims), its app must still
be registered and active (so a revocation takes effect within a reload interval), and it
counts against its per-token request rate. Sessions take a slot of the per-token
concurrent-session limit. Open mode (no apps file): everyone is :data:`ANONYMOUS`, with
full rights and no limits, exactly as before access control existed; tokens are still
issued (Symbl clients fetch one before connecting) but never checked. The Origin
allow-list applies in both modes: it is what protects an open gateway from web pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace

from aiohttp import web

from . import errors as e
from .app_file import FileAppRegistry
from .apps import App, AppRegistry
from .config import AuthConfig
from .extract import find_token
from .grants import grant_for, parse_token_request, ttl_for
from .hashing import SecretHasher
from .keys import ephemeral_key, load_or_create_key
from .origin import OriginPolicy
from .policy import Action, authorize
from .principal import ANONYMOUS, DEFAULT_TENANT, IDENTIFIER, Principal, Role
from .quotas import NoLease, RequestLimiter, SessionCounter, SessionLease, parse_rate
from .tokens import Grant, IssuedToken, TokenCodec

log = logging.getLogger(__name__)

RevocationHook = Callable[[Callable[[str], bool]], Awaitable[object]]
"""Ends a transport's sessions whose app ``revoked(app_id)`` says is no longer active."""


class AccessControl:
    def __init__(self, config: AuthConfig, *, registry: AppRegistry | None, key: bytes,
                 hasher: SecretHasher | None = None) -> None:
        if (registry is None) != config.open:
            raise ValueError("a registry is needed exactly when an apps file is configured")
        self.config = config
        self.registry = registry
        self.codec = TokenCodec(key)
        self.hasher = hasher or (SecretHasher() if registry is not None else None)
        self.origins = OriginPolicy(config.allowed_origins)
        self.limiter = RequestLimiter(config.limits_storage)
        self.sessions = SessionCounter()
        self._revocation_hooks: list[RevocationHook] = []
        self._rate = parse_rate(config.rate_limit)
        self._failure_rate = parse_rate(config.auth_failure_limit)

    @classmethod
    def from_config(cls, config: AuthConfig) -> AccessControl:
        """Read the apps file and the signing key (blocking: call before serving).

        ValueError (with a message for the operator) when either cannot be used.
        """
        if config.open:
            return cls(config, registry=None, key=ephemeral_key())
        assert config.apps_file is not None
        registry = FileAppRegistry.load(config.apps_file)
        key_path = config.key_path()
        assert key_path is not None
        return cls(config, registry=registry, key=load_or_create_key(key_path))

    @property
    def open(self) -> bool:
        return self.registry is None

    # -- startup ---------------------------------------------------------------------------

    def startup_line(self, host: str | None = None) -> str:
        """One line for the log saying who may use the gateway."""
        origins = self.origins.describe()
        if self.registry is None:
            line = ("access control OPEN: no --apps-file, so anyone who can reach this "
                    f"gateway may open sessions, join, watch and read any conversation "
                    f"(origins: {origins})")
            if host is not None and not _is_loopback(host):
                line += f"; WARNING: listening on {host}, not loopback"
            return line
        return (f"access control ON: {self.registry.describe()}; tokens "
                f"HS256, {self.config.token_ttl} s; per token {self.config.session_limit} "
                f"sessions, {self.config.rate_limit}; origins: {origins}")

    # -- entrances -------------------------------------------------------------------------

    async def authenticate(self, request: web.Request) -> Principal:
        """Origin, token, app and request rate; the principal or an :class:`AuthError`."""
        self.origins.check(request)
        if self.registry is None:
            return ANONYMOUS
        token = find_token(request)
        if token is None:
            raise e.unauthorized(e.MISSING_TOKEN, "a token is required: get one from POST "
                                 "/oauth2/token:generate and send it as Authorization: "
                                 "Bearer, x-api-key or access_token")
        principal, app = await self._verify(token)
        rate = parse_rate(app.rate_limit) if app.rate_limit is not None else self._rate
        assert principal.limit_key is not None
        await self.limiter.hit(principal.limit_key, rate)
        return principal

    async def authenticate_ws(self, request: web.Request) -> Principal | e.AuthError:
        """:meth:`authenticate` for WebSocket handlers: the refusal is returned, not raised,
        so the handler can answer it on the socket (:func:`refuse_websocket`)."""
        try:
            return await self.authenticate(request)
        except e.AuthError as exc:
            return exc

    async def principal_for(self, token: str) -> Principal:
        """Verify ``token`` and its app (no origin, no rate): for non-HTTP entrances too."""
        if self.registry is None:
            return ANONYMOUS
        return (await self._verify(token))[0]

    async def _verify(self, token: str) -> tuple[Principal, App]:
        assert self.registry is not None
        principal = self.codec.verify(token)
        app = await self.registry.get(principal.subject)
        if app is None or not app.active:
            raise e.unauthorized(e.APP_REVOKED, "the app this token belongs to is revoked "
                                 "or unknown")
        limit = app.session_limit or self.config.session_limit
        return replace(principal, session_limit=limit), app

    def authorize(self, principal: Principal, action: Action, conversation_id: str,
                  tenant: str | None = None, *, aliases: Iterable[str] = ()) -> None:
        """See :func:`gateway.auth.policy.authorize`."""
        authorize(principal, action, conversation_id, tenant, aliases=aliases)

    def open_session(self, principal: Principal) -> SessionLease:
        """A slot of the principal's concurrent sessions; 429 when none is free."""
        key = principal.limit_key
        if key is None:
            return NoLease()
        return self.sessions.acquire(key, principal.session_limit, subject=principal.subject)

    @contextlib.asynccontextmanager
    async def session(self, principal: Principal) -> AsyncIterator[None]:
        lease = self.open_session(principal)
        try:
            yield
        finally:
            lease.release()

    # -- token endpoint --------------------------------------------------------------------

    async def issue_token(self, body: object, client: str | None) -> IssuedToken:
        """Answer a token request (the JSON body already parsed); AuthError on refusal."""
        if self.registry is None:
            return self._open_token(body)
        failures_key = f"auth-failures:{client or 'unknown'}"
        await self.limiter.test(failures_key, self._failure_rate, code=e.TOO_MANY_FAILURES,
                                what="failed token requests from this address")
        try:
            request = parse_token_request(body)
            app = await self.registry.get(request.app_id)
            assert self.hasher is not None
            ok = await self.hasher.verify(request.app_id, app.secret_hash if app else None,
                                          request.app_secret)
            if not ok or app is None or not app.active:
                raise e.unauthorized(e.INVALID_CREDENTIALS,
                                     "appId and appSecret do not match an active app")
            grant = grant_for(app, request)
        except e.AuthError:
            await self.limiter.count(failures_key, self._failure_rate)
            raise
        issued = self.codec.issue(grant, ttl_for(request, self.config.token_ttl))
        log.info("token issued: %s, expires in %d s", issued.principal.describe(),
                 issued.expires_in)
        return issued

    def _open_token(self, body: object) -> IssuedToken:
        """Open mode: any credentials get a (never checked) service token."""
        if not isinstance(body, dict):
            raise e.bad_request(e.INVALID_REQUEST, "the body must be a JSON object")
        app_id = body.get("appId")
        subject = app_id if isinstance(app_id, str) and IDENTIFIER.match(app_id) else "anonymous"
        grant = Grant(subject=subject, role=Role.SERVICE, tenant=DEFAULT_TENANT)
        return self.codec.issue(grant, self.config.token_ttl)

    # -- background ------------------------------------------------------------------------

    def on_revoked(self, hook: RevocationHook) -> None:
        """Call ``hook(revoked)`` after the apps change; ``revoked(app_id)`` tells whether an
        app may no longer be used (revoked or removed): its sessions are to end now."""
        self._revocation_hooks.append(hook)

    async def watch_apps(self) -> None:
        """Re-read the apps registry every ``reload_interval`` s (run as a task), and end
        what the tokens of apps that are no longer active still hold open."""
        if self.registry is None:
            return
        while True:
            await asyncio.sleep(self.config.reload_interval)
            try:
                if await self.registry.refresh():
                    await self.end_revoked()
            except Exception:  # a broken registry must not stop the watcher
                log.exception("reloading the apps registry failed")

    async def end_revoked(self) -> None:
        """End the live sessions of apps that are not active (any more).

        A token is checked when a session opens, so without this a revoked app's calls and
        consoles would run on for as long as they last. The hooks first (each transport
        ends its sessions in its own wire format: an ``app_revoked`` error, then the close),
        then any socket still holding a lease of such an app is cancelled.
        """
        if self.registry is None:
            return
        apps = await self.registry.list()
        if not apps:
            # A deleted or emptied apps file (a deploy mistake more often than a decision):
            # new sessions are refused, but live calls are not cut for it.
            log.warning("the apps registry has no apps: new sessions are refused, live ones "
                        "go on (revoke apps with 'gateway apps revoke' to end theirs)")
            return
        active = {app.app_id for app in apps if app.active}

        def revoked(app_id: str) -> bool:
            return app_id not in active

        results = await asyncio.gather(*(hook(revoked) for hook in self._revocation_hooks),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("ending a revoked app's sessions failed: %r", result)
        for lease in self.sessions.held_by(revoked):
            if lease.on_revoke is not None:
                lease.on_revoke()


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
