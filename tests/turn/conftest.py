"""Fixtures for the NAT-traversal tests: a real coturn on loopback.

One coturn per test session (start-up takes ~60 ms, but sharing it also shows that allocations
of one test do not disturb the next). Tests that need it are marked ``slow`` and are skipped
when coturn is not installed (``apt-get install coturn``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from turn.coturn import CoturnProcess
from turn.coturn_binary import turnserver_binary
from turn.ice import IceSettings

TURN_SECRET = "loopback-test-secret"
TURN_REALM = "gateway.test"


@pytest.fixture(scope="session")
def coturn() -> Iterator[CoturnProcess]:
    if turnserver_binary() is None:
        pytest.skip("coturn is not installed (apt-get install coturn)")
    process = CoturnProcess(secret=TURN_SECRET, realm=TURN_REALM, dev=True)
    process.start_sync()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def relay_settings(coturn: CoturnProcess) -> IceSettings:
    """Relay-only ICE through the test coturn, over UDP."""
    return IceSettings(turn_urls=(coturn.url,), turn_secret=TURN_SECRET, transport_policy="relay")


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A ``turn:`` URL whose UDP port is bound but never answers: an unreachable server.

    A closed port would answer with ICMP port-unreachable (a quick "refused"); a firewall that
    drops packets looks like this instead, which is the case that needs the timeout.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"turn:127.0.0.1:{sock.getsockname()[1]}?transport=udp"


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (UDP and TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
