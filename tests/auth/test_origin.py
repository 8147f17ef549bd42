"""The Origin allow-list: rules, and browser-like handshakes against a real server."""

from __future__ import annotations

import aiohttp
import pytest

from gateway.auth import errors as e
from gateway.auth.origin import OriginPolicy, normalize_origin
from tests.auth.conftest import StartServer


@pytest.mark.parametrize("given, normal", [
    ("https://App.Example.com", "https://app.example.com"),
    ("https://app.example.com:443", "https://app.example.com"),
    ("http://localhost:80/", "http://localhost"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://[::1]:3000", "http://[::1]:3000"),
    ("null", "null"), ("*", "*"),
])
def test_origins_are_normalized(given: str, normal: str) -> None:
    assert normalize_origin(given) == normal


@pytest.mark.parametrize("bad", ["app.example.com", "ftp://x", "https://x/path",
                                 "https://x?q=1", "https://user@x", "https://x:99999", ""])
def test_non_origins_are_refused_at_startup(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_origin(bad)


def test_cluster_nodes_origins_are_trusted_as_they_come_and_go() -> None:
    policy = OriginPolicy()
    nodes = ["https://b.example.com/gateway?node=b", "not a url", "http://10.0.0.7:8080"]
    policy.trust(lambda: nodes)
    host = "a.example.com"
    assert policy.is_allowed("https://b.example.com", host)  # path and query dropped
    assert policy.is_allowed("http://10.0.0.7:8080", host)
    assert not policy.is_allowed("http://10.0.0.7:8081", host)
    nodes.clear()  # node b left the cluster: its origin is a stranger again
    assert not policy.is_allowed("https://b.example.com", host)


def test_allow_rules() -> None:
    policy = OriginPolicy(["https://app.example.com"])
    host = "gateway.example.com"
    assert policy.is_allowed(None, host)  # not a browser
    assert policy.is_allowed("https://app.example.com", host)
    assert policy.is_allowed("https://gateway.example.com", host)  # same origin
    assert policy.is_allowed("https://gateway.example.com", "gateway.example.com:443")
    assert policy.is_allowed("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert not policy.is_allowed("http://127.0.0.1:9999", "127.0.0.1:8080")
    assert not policy.is_allowed("https://evil.example", host)
    assert not policy.is_allowed("https://app.example.com.evil.example", host)
    assert not policy.is_allowed("null", host)
    assert not policy.is_allowed("garbage", host)
    assert OriginPolicy(["null"]).is_allowed("null", host)
    anyone = OriginPolicy(["*"])
    assert anyone.is_allowed("https://evil.example", host) and anyone.is_allowed("null", host)
    assert policy.describe() == "same origin + https://app.example.com"


async def test_websocket_from_a_foreign_page_gets_no_socket(
        start_server: StartServer, http: aiohttp.ClientSession) -> None:
    # Open mode: the case the check exists for (nothing else protects an open gateway).
    s = await start_server(open_mode=True, allowed_origins=("https://app.example.com",))
    url = f"{s.ws_url}/subscribe/room"
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(url, headers={"Origin": "https://evil.example"})
    assert info.value.status == 403
    for origin in ("https://app.example.com", s.url, None):
        headers = {"Origin": origin} if origin else {}
        async with http.ws_connect(url, headers=headers) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "ready"


async def test_http_from_a_foreign_page_is_refused(
        start_server: StartServer, http: aiohttp.ClientSession) -> None:
    s = await start_server(open_mode=True)
    async with http.get(f"{s.url}/v1/conversations",
                        headers={"Origin": "https://evil.example"}) as r:
        body = await r.json()
        assert r.status == 403 and body["code"] == e.ORIGIN_NOT_ALLOWED
        assert "--allowed-origin" in body["message"]
    async with http.get(f"{s.url}/v1/conversations", headers={"Origin": s.url}) as r:
        assert r.status == 200
