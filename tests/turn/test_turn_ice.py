"""ICE settings: validation, what browsers get, what aiortc gets, SDP candidate helpers."""

from __future__ import annotations

import pytest
from aiortc import RTCIceTransportPolicy

from turn.credentials import rest_password
from turn.ice import (
    DEFAULT_TURN_TTL,
    IceSettings,
    browser_ice_servers,
    candidate_types,
    gateway_rtc_configuration,
    gateway_turn_url,
    gathering_problem,
    relay_only_sdp,
)
from turn.urls import parse_ice_url

SECRET = "s3cret"
UDP = "turn:turn.example.org:3478?transport=udp"
TCP = "turn:turn.example.org:3478?transport=tcp"
TLS = "turns:turn.example.org:443?transport=tcp"
STUN = "stun:turn.example.org:3478"

SDP = (
    "v=0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host\r\n"
    "a=candidate:2 1 udp 1694498815 203.0.113.7 50000 typ srflx raddr 192.168.1.20 rport 50000\r\n"
    "a=candidate:3 1 udp 16777215 198.51.100.9 61000 typ relay raddr 0.0.0.0 rport 9\r\n"
    "a=end-of-candidates\r\n"
)


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "transport"),
    [
        ("stun:example.org", "stun", "example.org", 3478, None),
        ("turn:example.org", "turn", "example.org", 3478, "udp"),
        ("turn:10.0.0.1:3479?transport=tcp", "turn", "10.0.0.1", 3479, "tcp"),
        ("turns:example.org", "turns", "example.org", 5349, "tcp"),
        ("turn:[2001:db8::1]:3478", "turn", "2001:db8::1", 3478, "udp"),
    ],
)
def test_parse_ice_url(url: str, scheme: str, host: str, port: int, transport: str | None) -> None:
    parsed = parse_ice_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.transport) == (
        scheme,
        host,
        port,
        transport,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org",
        "turn:",
        "turn:host:99999",
        "stun:host?transport=udp",
        "turn:h?transport=sctp",
    ],
)
def test_malformed_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="malformed ICE server URL"):
        parse_ice_url(url)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (IceSettings(turn_urls=(UDP,)), "needs --turn-secret"),
        (IceSettings(turn_secret=SECRET), "no --turn-url"),
        (IceSettings(transport_policy="relay"), "relay needs a --turn-url"),
        (IceSettings(turn_urls=("turn:bad host",), turn_secret=SECRET), "malformed"),
        (IceSettings(stun_urls=(UDP,)), "pass it as --turn-url"),
        (IceSettings(turn_urls=(STUN,), turn_secret=SECRET), "not a turn: or turns: URL"),
        (IceSettings(turn_urls=(UDP,), turn_secret=SECRET, turn_ttl=0), "--turn-ttl"),
        (
            IceSettings(
                turn_urls=("turns:h:5349?transport=udp",),
                turn_secret=SECRET,
                transport_policy="relay",
            ),
            "can be used by aiortc",
        ),
    ],
)
def test_validate_names_the_problem(settings: IceSettings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings.validate()


def test_defaults_are_valid_and_offline() -> None:
    settings = IceSettings()
    settings.validate()
    assert settings.turn_ttl == DEFAULT_TURN_TTL
    assert browser_ice_servers(settings, "u") == []
    config = gateway_rtc_configuration(settings)
    # An empty list, not None: aiortc replaces None with a public Google STUN server.
    assert config.iceServers == []


def test_browser_gets_every_server_with_a_fresh_credential() -> None:
    settings = IceSettings(
        stun_urls=(STUN,), turn_urls=(UDP, TCP, TLS), turn_secret=SECRET, turn_ttl=600
    )
    servers = browser_ice_servers(settings, "session-1", now=1_000_000.0)
    assert servers == [
        {"urls": [STUN]},
        {
            "urls": [UDP, TCP, TLS],
            "username": "1000600:session-1",
            "credential": rest_password(SECRET, "1000600:session-1"),
        },
    ]


def test_gateway_prefers_udp_turn_and_first_stun() -> None:
    settings = IceSettings(
        stun_urls=("stuns:a.example:5349", STUN, "stun:other.example"),
        turn_urls=(TLS, TCP, UDP),
        turn_secret=SECRET,
    )
    config = gateway_rtc_configuration(settings, "gw", now=2_000_000.0)
    assert config.iceServers is not None
    stun, turn = config.iceServers
    assert stun.urls == STUN
    assert turn.urls == UDP
    assert turn.username == f"{2_000_000 + DEFAULT_TURN_TTL}:gw"
    assert turn.credential == rest_password(SECRET, turn.username)


def test_gateway_falls_back_to_tcp_then_tls() -> None:
    tcp_first = IceSettings(turn_urls=(TLS, TCP), turn_secret=SECRET)
    assert gateway_turn_url(tcp_first) == parse_ice_url(TCP)
    only_tls = IceSettings(turn_urls=("turns:h:5349?transport=udp", TLS), turn_secret=SECRET)
    assert gateway_turn_url(only_tls) == parse_ice_url(TLS)
    only_v6 = IceSettings(turn_urls=("turn:[2001:db8::1]:3478",), turn_secret=SECRET)
    assert gateway_turn_url(only_v6) is None


def test_relay_policy_reaches_aiortc() -> None:
    settings = IceSettings(turn_urls=(UDP,), turn_secret=SECRET, transport_policy="relay")
    settings.validate()
    config = gateway_rtc_configuration(settings)
    assert config.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    assert gateway_rtc_configuration(IceSettings()).iceTransportPolicy == RTCIceTransportPolicy.ALL


def test_candidate_types_and_relay_only_sdp() -> None:
    assert candidate_types(SDP) == {"host": 1, "srflx": 1, "relay": 1}
    filtered = relay_only_sdp(SDP)
    assert candidate_types(filtered) == {"relay": 1}
    assert "192.168.1.20 50000 typ host" not in filtered
    assert filtered.endswith("a=end-of-candidates\r\n")
    assert filtered.startswith("v=0\r\nm=audio")


def test_gathering_problem() -> None:
    relay = IceSettings(turn_urls=(UDP,), turn_secret=SECRET, transport_policy="relay")
    no_candidates = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    message = gathering_problem(no_candidates, relay)
    assert message is not None and "no relay candidate" in message and UDP in message
    assert gathering_problem(relay_only_sdp(SDP), relay) is None
    all_with_turn = IceSettings(turn_urls=(UDP,), turn_secret=SECRET)
    host_only = SDP.replace("typ relay", "typ host")
    assert "no relay candidate" in (gathering_problem(host_only, all_with_turn) or "")
    assert gathering_problem(host_only, IceSettings()) is None
    assert "no candidates" in (gathering_problem(no_candidates, IceSettings()) or "")
