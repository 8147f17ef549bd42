"""Apps: the holders of credentials (appId, appSecret), and where they are registered.

An app is what Symbl called an application: a backend (or a device) that exchanges its
appId and appSecret for a short-lived token at ``POST /oauth2/token:generate``. Each app
has a role (the highest role its tokens may carry), a tenant, and, for caller apps, the
conversation ids it may join. Only a hash of the secret is ever stored.

:class:`AppRegistry` is the seam for storage: the JSON file registry
(``app_file.FileAppRegistry``) today, a database table later, behind the same calls.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import limits

from .principal import DEFAULT_TENANT, MAX_CONVERSATIONS_PER_TOKEN, Role, check_identifier

# Generated credentials have the shapes Symbl issued: Symbl's Web SDK refuses an appId
# that is not exactly 64 and an appSecret that is not exactly 128 letters and digits
# (symbl-web-sdk src/symbl/index.ts, AUTH_REGEX), so ours pass that check unchanged.
APP_ID_HEX_BYTES = 32      # 64 hex characters
APP_SECRET_HEX_BYTES = 64  # 128 hex characters, 512 bits of entropy


def new_app_id() -> str:
    return secrets.token_hex(APP_ID_HEX_BYTES)


def new_app_secret() -> str:
    return secrets.token_hex(APP_SECRET_HEX_BYTES)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class App:
    """One registered app. ``secret_hash`` is a PHC string (argon2id), never the secret.

    ``session_limit`` / ``rate_limit`` override the gateway-wide per-token limits for the
    tokens of this app (a bot service streaming many calls needs more than a caller).
    """

    app_id: str
    secret_hash: str
    role: Role
    tenant: str = DEFAULT_TENANT
    conversations: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    created: str = ""
    revoked: str | None = None
    session_limit: int | None = None
    rate_limit: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None

    def revoke(self) -> App:
        return replace(self, revoked=utc_now_iso())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "appId": self.app_id, "secretHash": self.secret_hash, "role": self.role.value,
            "tenant": self.tenant, "name": self.name, "created": self.created,
            "revoked": self.revoked,
        }
        if self.conversations:
            out["conversations"] = sorted(self.conversations)
        if self.session_limit is not None:
            out["sessionLimit"] = self.session_limit
        if self.rate_limit is not None:
            out["rateLimit"] = self.rate_limit
        return out

    def public_json(self) -> dict[str, Any]:
        """What ``apps list`` shows: everything but the hash."""
        out = self.to_json()
        del out["secretHash"]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> App:
        """Parse one record; ValueError says which field is wrong (never its value)."""
        if not isinstance(data, Mapping):
            raise ValueError("an app record must be a JSON object")
        app_id = check_identifier(data.get("appId"), "appId")
        secret_hash = data.get("secretHash")
        if not isinstance(secret_hash, str) or not secret_hash.startswith("$argon2"):
            raise ValueError(f"app {app_id}: secretHash must be an argon2 PHC string")
        try:
            role = Role(str(data.get("role")))
        except ValueError:
            raise ValueError(f"app {app_id}: role must be caller, agent or service") from None
        tenant = check_identifier(data.get("tenant", DEFAULT_TENANT), f"app {app_id}: tenant")
        raw_conversations = data.get("conversations", [])
        if not isinstance(raw_conversations, list):
            raise ValueError(f"app {app_id}: conversations must be a list")
        conversations = frozenset(check_identifier(c, f"app {app_id}: conversation id")
                                  for c in raw_conversations)
        if role is Role.CALLER and not conversations:
            raise ValueError(f"app {app_id}: a caller app needs conversation ids")
        if len(conversations) > MAX_CONVERSATIONS_PER_TOKEN:
            raise ValueError(f"app {app_id}: at most {MAX_CONVERSATIONS_PER_TOKEN} "
                             "conversation ids")
        session_limit = data.get("sessionLimit")
        if session_limit is not None and (type(session_limit) is not int or session_limit < 1):
            raise ValueError(f"app {app_id}: sessionLimit must be a positive integer")
        rate_limit = data.get("rateLimit")
        if rate_limit is not None:
            try:
                limits.parse(rate_limit)
            except (TypeError, ValueError):
                raise ValueError(f"app {app_id}: rateLimit must be like '600/minute'") from None
        revoked = data.get("revoked")
        return cls(
            app_id=app_id, secret_hash=secret_hash, role=role, tenant=tenant,
            conversations=conversations, name=str(data.get("name", ""))[:200],
            created=str(data.get("created", "")), revoked=str(revoked) if revoked else None,
            session_limit=session_limit, rate_limit=rate_limit,
        )


class AppNotFound(KeyError):
    """No app with that id."""


class AppExists(ValueError):
    """An app with that id is already registered."""


class AppRegistry(Protocol):
    """Where apps live. Async so that a database-backed registry fits behind it.

    ``get`` is on the request path (every token is checked against its app so that a
    revocation takes effect at once): implementations answer it from memory or a cache.
    """

    @property
    def source(self) -> str:
        """Where the apps come from, for the startup line (a path, a database name)."""
        ...

    def describe(self) -> str:
        """For the startup line: how many active apps, from where."""
        ...

    async def get(self, app_id: str) -> App | None: ...

    async def list(self) -> list[App]: ...

    async def add(self, app: App) -> None:
        """Register ``app``; :class:`AppExists` if its id is taken (even if revoked)."""

    async def revoke(self, app_id: str) -> App:
        """Mark revoked (kept for audit); :class:`AppNotFound` if unknown."""

    async def refresh(self) -> bool:
        """Pick up changes made by others (the CLI); True when something changed."""
