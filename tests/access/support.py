"""Helpers for tests of a real gateway with access control on: apps, tokens, token clients.

Apps are registered in a real apps file the way ``gateway apps create`` does (Argon2id
hash); tokens come from the gateway's own ``POST /oauth2/token:generate``; clients present
them the ways docs/access-control.md lists.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from gateway.auth import AuthConfig, Role
from gateway.config import GatewayConfig
from tests.auth.conftest import Credentials, add_app
from tests.rtc_client import GatewayClient
from tests.support.symbl_client import Socket

ALICE = {"userId": "alice@example.com", "name": "Alice"}
"""The Symbl speaker whose script the access tests' scripted recognizer speaks (conftest)."""


async def symbl_stream(url: str, connection_id: str, access_token: str) -> Socket:
    """A Symbl real-time socket on ``connection_id`` with the token in the query."""
    return await Socket.open(url, connection_id, query=f"access_token={access_token}")


async def symbl_subscriber(url: str, connection_id: str, access_token: str) -> Socket:
    """A Symbl subscribe socket on ``connection_id`` with the token in the query."""
    return await Socket.open(url, connection_id, path="/v1/subscribe",
                             query=f"access_token={access_token}")


@dataclass
class Apps:
    """An apps file and the credentials registered in it."""

    path: Path
    made: list[Credentials] = field(default_factory=list)

    @classmethod
    def create(cls, folder: Path) -> Apps:
        path = folder / "apps.json"
        path.write_text('{"version": 1, "apps": []}\n')
        return cls(path)

    async def add(self, role: Role, *, tenant: str = "default",
                  conversations: tuple[str, ...] = (), **extra: Any) -> Credentials:
        creds = await add_app(self.path, role, tenant=tenant, conversations=conversations,
                              **extra)
        self.made.append(creds)
        return creds

    def config(self, base: GatewayConfig | None = None, **auth: Any) -> GatewayConfig:
        """A gateway config with access control on (fast app reloads for revocations)."""
        cfg = base or GatewayConfig()
        return replace(cfg, auth=replace(AuthConfig(apps_file=self.path,
                                                    reload_interval=0.2), **auth))


async def token(http: aiohttp.ClientSession, url: str, creds: Credentials, **extra: Any) -> str:
    """A token from the gateway's token endpoint (``extra``: role, conversationIds…)."""
    body = {"type": "application", "appId": creds.app_id, "appSecret": creds.secret, **extra}
    async with http.post(f"{url}/oauth2/token:generate", json=body) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["accessToken"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def ws_url(url: str, path: str, access_token: str | None = None) -> str:
    out = url.replace("http", "ws", 1) + path
    if access_token is not None:
        out += ("&" if "?" in out else "?") + f"access_token={access_token}"
    return out


class TokenClient(GatewayClient):
    """The aiortc test client, presenting a token on ``/ws`` (``?access_token=``)."""

    def __init__(self, base_url: str, access_token: str | None) -> None:
        super().__init__(base_url, access_token=access_token)


# -- forged and damaged tokens: what an attacker can make without the signing key -----------

def _b64(data: Mapping[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(value: str) -> dict[str, Any]:
    return dict(jwt.decode(value, options={"verify_signature": False}))


def unsigned(value: str, **changes: Any) -> str:
    """The token's claims (with ``changes``) under ``alg: none``, no signature."""
    body = {**claims(value), **changes}
    return f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(body)}."


def tampered(value: str, **changes: Any) -> str:
    """The token with its payload changed and the original signature kept."""
    header, _payload, signature = value.split(".")
    return f"{header}.{_b64({**claims(value), **changes})}.{signature}"


def expired(value: str, key: bytes) -> str:
    """The same claims, signed with the real key, expired a minute ago (an old token)."""
    now = int(time.time())
    body = {**claims(value), "iat": now - 4000, "exp": now - 60}
    return jwt.encode(body, key, algorithm="HS256", headers={"typ": "at+jwt"})
