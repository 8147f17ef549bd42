"""The allow-list: which URLs a client may aim the gateway at."""

from __future__ import annotations

import pytest

from gateway.relays.allow import AllowList, UrlPattern, UrlRefused, parse_ws_url

ALLOW = AllowList(["wss://*.example.org", "ws://127.0.0.1:*/vosk", "wss://asr.example.com:8443/"])


@pytest.mark.parametrize("url", [
    "wss://a.example.org/", "wss://a.b.example.org/x?token=1", "wss://A.Example.ORG:443/x",
    "ws://127.0.0.1:2700/vosk", "ws://127.0.0.1:9/vosk/en", "wss://asr.example.com:8443/any",
])
def test_allowed(url: str) -> None:
    assert ALLOW.check(url).scheme in ("ws", "wss")


@pytest.mark.parametrize(("url", "why"), [
    ("wss://example.org/", "not allowed"),                 # the wildcard needs a subdomain
    ("wss://evil.com/.example.org", "not allowed"),        # a path is not a host
    ("wss://a.example.org.evil.com/", "not allowed"),
    ("ws://a.example.org/", "not allowed"),                # scheme is part of the pattern
    ("wss://a.example.org:8443/", "not allowed"),          # so is the (default) port
    ("ws://127.0.0.1:9/voskx", "not allowed"),             # prefixes end at a segment
    ("ws://127.0.0.1:9/vosk/../admin", "not allowed"),     # dot segments are resolved
    ("ws://127.0.0.1:9/vosk/%2e%2e/admin", "not allowed"),  # also percent-encoded ones
    ("ws://localhost:9/vosk", "not allowed"),              # names are not resolved
    ("wss://asr.example.com/", "not allowed"),
    ("wss://user:pw@a.example.org/", "credentials"),
    ("https://a.example.org/", "ws:// or wss://"),
    ("wss:///nohost", "host"),
    ("wss://a.example.org:99999/", "valid URL"),
    ("wss://a.example.org/#x", "fragment"),
])
def test_refused(url: str, why: str) -> None:
    with pytest.raises(UrlRefused, match=why):
        ALLOW.check(url)


def test_without_patterns_no_client_url_is_accepted() -> None:
    with pytest.raises(UrlRefused, match="accepts no downstream URLs from clients"):
        AllowList().check("wss://a.example.org/")


def test_refusal_does_not_echo_the_query() -> None:
    with pytest.raises(UrlRefused) as info:
        ALLOW.check("wss://other.net/x?access_token=secret")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(("pattern", "why"), [
    ("https://x.org", "must start with ws:// or wss://"),
    ("wss://a*b.org", "'\\*' only as"),
    ("wss://x.org:0", "invalid port"),
    ("wss://u@x.org", "credentials"),
])
def test_bad_patterns(pattern: str, why: str) -> None:
    with pytest.raises(UrlRefused, match=why):
        UrlPattern.parse(pattern)


def test_any_host_only_when_said() -> None:
    anything = AllowList(["wss://*"])
    assert anything.check("wss://whatever.net/")
    with pytest.raises(UrlRefused):
        anything.check("ws://whatever.net/")  # still the scheme and default port


def test_ipv6_hosts() -> None:
    assert AllowList(["ws://[::1]:*"]).check("ws://[::1]:2700/")
    assert parse_ws_url("ws://[::1]:2700/").host == "::1"
