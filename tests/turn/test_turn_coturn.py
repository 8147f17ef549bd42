"""Against a real coturn on loopback: credentials accepted and rejected with clear errors,
relay-only calls between two aiortc peers, and the rendered configurations."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from turn.coturn import CoturnProcess
from turn.coturn_binary import turnserver_binary
from turn.coturn_config import CoturnConfig, dev_config, render_config
from turn.credentials import rest_credential
from turn.diagnosis import TurnCheckError
from turn.ice import IceSettings, candidate_types, gateway_rtc_configuration
from turn.probe import (
    check_ice_servers,
    check_stun,
    check_turn,
    diagnose_gathering,
)
from turn.selftest import PairError, connect_pair

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_fresh_credential_is_accepted(coturn: CoturnProcess, transport: str) -> None:
    credential = rest_credential(coturn.secret, "alice", 60)
    seconds = await check_turn(coturn.url_for(transport), credential.username, credential.password)
    assert 0 < seconds < 1


async def test_stun_binding(coturn: CoturnProcess) -> None:
    assert 0 < await check_stun(coturn.stun_url) < 1


async def test_expired_credential_is_rejected(coturn: CoturnProcess) -> None:
    credential = rest_credential(coturn.secret, "alice", 60, now=time.time() - 120)
    with pytest.raises(TurnCheckError) as caught:
        await check_turn(coturn.url, credential.username, credential.password)
    assert caught.value.reason == "expired"
    message = str(caught.value)
    assert f"TURN server {coturn.url} rejected the credentials (401 Unauthorized)" in message
    assert "credential expired at" in message


async def test_wrong_secret_is_rejected(coturn: CoturnProcess) -> None:
    credential = rest_credential("not-the-secret", "alice", 60)
    with pytest.raises(TurnCheckError) as caught:
        await check_turn(coturn.url, credential.username, credential.password)
    assert caught.value.reason == "unauthorized"
    assert str(caught.value) == (
        f"TURN server {coturn.url} rejected the credentials (401 Unauthorized): check "
        "--turn-secret (it must equal coturn's static-auth-secret) and the realm"
    )


async def test_unreachable_server_times_out(black_hole: str) -> None:
    credential = rest_credential("s", "alice", 60)
    started = time.perf_counter()
    with pytest.raises(TurnCheckError) as caught:
        await check_turn(black_hole, credential.username, credential.password, timeout=1.0)
    assert 0.9 < time.perf_counter() - started < 2
    assert caught.value.reason == "timeout"
    assert str(caught.value).startswith(
        f"TURN server {black_hole} did not answer within 1 s: unreachable"
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_closed_port_is_refused(closed_port: int, transport: str) -> None:
    url = f"turn:127.0.0.1:{closed_port}?transport={transport}"
    with pytest.raises(TurnCheckError) as caught:
        await check_turn(url, "1:a", "b", timeout=2.0)
    assert caught.value.reason == "refused"
    assert f"nothing listens on 127.0.0.1:{closed_port}/{transport}" in str(caught.value)


async def test_check_ice_servers_reports_each_url(coturn: CoturnProcess, black_hole: str) -> None:
    settings = IceSettings(
        stun_urls=(coturn.stun_url,),
        turn_urls=(coturn.url, coturn.url_for("tcp"), black_hole),
        turn_secret=coturn.secret,
    )
    results = await check_ice_servers(settings, timeout=1.0)
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[3].error is not None and results[3].error.reason == "timeout"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relay_only_call_between_two_aiortc_peers(
    coturn: CoturnProcess, transport: str
) -> None:
    settings = IceSettings(
        turn_urls=(coturn.url_for(transport),), turn_secret=coturn.secret, transport_policy="relay"
    )
    result = await connect_pair(
        gateway_rtc_configuration(settings, "client"), gateway_rtc_configuration(settings, "gw")
    )
    # Only relay candidates were offered and answered, and the call went relay to relay.
    assert result.offer_candidates == {"relay": 1}
    assert result.answer_candidates == {"relay": 1}
    assert result.selected == ["relay -> relay"]
    assert result.connected < 5
    assert result.echo_rtt < 1


async def test_direct_call_without_turn_for_comparison() -> None:
    from aioice.ice import get_host_addresses

    if not get_host_addresses(use_ipv4=True, use_ipv6=True):
        pytest.skip("no non-loopback interface: aiortc gathers no host candidates here")
    result = await connect_pair(
        gateway_rtc_configuration(IceSettings()), gateway_rtc_configuration(IceSettings())
    )
    assert set(result.offer_candidates) == {"host"}
    assert result.selected == ["host -> host"]


async def test_wrong_secret_gathers_nothing_and_is_diagnosed(coturn: CoturnProcess) -> None:
    """aiortc stays silent with a wrong secret; diagnose_gathering names the cause."""
    from aiortc import RTCPeerConnection

    settings = IceSettings(
        turn_urls=(coturn.url,), turn_secret="wrong-secret", transport_policy="relay"
    )
    pc = RTCPeerConnection(gateway_rtc_configuration(settings))
    try:
        pc.createDataChannel("x")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        assert candidate_types(sdp) == {}
        assert pc.connectionState == "new"
    finally:
        await pc.close()
    error = await diagnose_gathering(settings, sdp)
    assert error is not None and error.reason == "unauthorized"
    assert "rejected the credentials (401 Unauthorized)" in str(error)


async def test_unreachable_turn_is_diagnosed(black_hole: str) -> None:
    settings = IceSettings(turn_urls=(black_hole,), turn_secret="s", transport_policy="relay")
    error = await diagnose_gathering(settings, "v=0\r\n", timeout=0.5)
    assert error is not None and error.reason == "timeout"


async def test_healthy_description_needs_no_diagnosis(coturn: CoturnProcess) -> None:
    settings = IceSettings(turn_urls=(coturn.url,), turn_secret=coturn.secret)
    sdp = "a=candidate:1 1 udp 16777215 127.0.0.1 50000 typ relay raddr 0.0.0.0 rport 9\r\n"
    assert await diagnose_gathering(settings, sdp) is None


async def test_production_config_refuses_loopback_peers() -> None:
    """The production template (listening on loopback here) relays to no loopback address.

    Authentication works, but a relay-only call between two loopback peers cannot connect:
    coturn refuses to permit 127.0.0.1 as a peer (403 Forbidden IP). The same call succeeds
    through the dev instance (see above), so the difference is the denied-peer-ip rules.
    """
    if turnserver_binary() is None:
        pytest.skip("coturn is not installed")
    async with CoturnProcess(secret="prod", dev=False) as production:
        assert "allow-loopback-peers" not in production.command()
        assert "allow-loopback-peers" not in production.config_text
        assert "denied-peer-ip=127.0.0.0-127.255.255.255" in production.config_text
        settings = IceSettings(
            turn_urls=(production.url,), turn_secret="prod", transport_policy="relay"
        )
        with pytest.raises(PairError) as caught:
            await connect_pair(
                gateway_rtc_configuration(settings, "a"),
                gateway_rtc_configuration(settings, "b"),
                limit=4,
            )
        # Both peers did get relay candidates: it is the relaying that is refused.
        assert "'relay': 1" in str(caught.value)
        assert "Bad configuration format" not in production.log()


def test_dev_config_allows_loopback_only_on_the_command_line() -> None:
    text = render_config(dev_config("s", "r", 3478, pidfile="/tmp/p", userdb="/tmp/db"))
    assert "allow-loopback-peers" not in text
    assert "denied-peer-ip=127.0.0.0-127.255.255.255" not in text
    assert "denied-peer-ip=10.0.0.0-10.255.255.255" in text
    process = CoturnProcess(port=3478, secret="s")
    process._prepare()
    try:
        assert process.command()[-1] == "--allow-loopback-peers"
    finally:
        process.stop()


def test_production_template_settings() -> None:
    text = render_config(
        CoturnConfig(
            secret="s",
            realm="turn.example.org",
            tls_listening_port=443,
            cert_file="/etc/letsencrypt/live/turn.example.org/fullchain.pem",
            pkey_file="/etc/letsencrypt/live/turn.example.org/privkey.pem",
            external_ip="203.0.113.10",
            allowed_peers=("10.0.0.5",),
        )
    )
    for line in [
        "use-auth-secret",
        "static-auth-secret=s",
        "realm=turn.example.org",
        "tls-listening-port=443",
        "cert=/etc/letsencrypt/live/turn.example.org/fullchain.pem",
        "min-port=49152",
        "max-port=65535",
        "external-ip=203.0.113.10",
        "allowed-peer-ip=10.0.0.5",
        "denied-peer-ip=169.254.0.0-169.254.255.255",
        "no-multicast-peers",
        "fingerprint",
        "no-cli",
    ]:
        assert line in text.splitlines(), line
    assert "allow-loopback-peers" not in text
    assert "no-tls" not in text.splitlines()


def test_cli_credentials_and_check(coturn: CoturnProcess) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "turn", "credentials", "--secret", "x", "--user", "u", "--ttl", "5"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    assert data["username"].endswith(":u") and data["ttl"] == 5
    ok = subprocess.run(
        [sys.executable, "-m", "turn", "check", "--url", coturn.url, "--secret", coturn.secret],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = subprocess.run(
        [sys.executable, "-m", "turn", "check", "--url", coturn.url, "--secret", "wrong"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert "rejected the credentials (401 Unauthorized)" in bad.stderr
