"""The gateway through a real coturn on loopback: relay-only calls, credentials, clear failures.

Everything is real: coturn (``--allow-loopback-peers``, dev mode only), the gateway's aiortc,
an aiortc client (``tests/rtc_client.py``) that takes its ICE servers from ``hello``, Vosk on
human recordings (``pocketsphinx-testdata``). The TURN package's own tests (credentials,
probes, two bare peers) are in the other files here; these check what the gateway does with it.

Run: ``VOSK_MODEL=/path/to/vosk-model-small-en-us-0.15 pytest tests/turn/test_turn_gateway.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import vosk

from tests.conftest import RunningGateway, StartGateway
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k, selected_pair
from tests.support.baseline import direct_transcript
from tests.support.speech import require_pocketsphinx_corpus
from tests.support.wer import WerStats
from tests.turn.conftest import TURN_SECRET
from turn.coturn import CoturnProcess, free_port
from turn.credentials import parse_rest_username, rest_credential
from turn.diagnosis import TurnCheckError
from turn.ice import candidate_types
from turn.probe import check_turn

pytestmark = pytest.mark.slow

TTL = 600  # not the default, so the test shows the gateway's --turn-ttl is what is used
MAX_WER_OVER_DIRECT = 0.05
SILENCE = np.zeros(48_000, dtype=np.int16)  # for calls that only need to connect


async def accepted(url: str, username: str, password: str) -> float:
    """``check_turn``, retried on 437 Allocation Mismatch.

    Against the session's shared coturn an allocation of an earlier test can outlive its client
    (aioice does not always delete it); when the kernel hands the probe's new socket that same
    local port, coturn answers 437 for the 5-tuple. That says nothing about the credential.
    """
    for _attempt in range(3):
        try:
            return await check_turn(url, username, password)
        except TurnCheckError as error:
            if "437" not in str(error):
                raise
    return await check_turn(url, username, password)


def turn_entry(hello: dict[str, Any]) -> dict[str, Any]:
    (entry,) = [s for s in hello["iceServers"]
                if any(str(u).startswith(("turn:", "turns:")) for u in s["urls"])]
    return entry


async def relay_call(gw: RunningGateway, coturn: CoturnProcess, wav: Path,
                     index: int) -> GatewayClient:
    """One relay-only call with every TURN check made while it is up; returns after bye."""
    client = GatewayClient(gw.url)
    hello = await client.connect()
    connected_at = time.time()
    try:
        # hello carries a TURN entry with a REST credential minted for this session now.
        entry = turn_entry(hello)
        assert coturn.url in entry["urls"]
        parsed = parse_rest_username(entry["username"])
        assert parsed is not None, entry["username"]
        expiry, user = parsed
        assert entry["username"] == f"{expiry}:{user}"
        assert user == hello["sessionId"]
        assert abs(expiry - (connected_at + TTL)) <= 5, (expiry, connected_at)
        assert entry["credential"]

        track = WavTrack(read_wav_48k(wav))
        client.peer(track, relay=True)
        answer = await client.offer({"speaker": {"userId": f"u{index}", "name": f"R{index}"}})
        assert client.offer_sdp is not None
        # Relay-only on both ends: no host or server-reflexive address in either description.
        assert set(candidate_types(client.offer_sdp)) == {"relay"}, client.offer_sdp
        assert set(candidate_types(answer)) == {"relay"}, answer
        # ... and the relay addresses are coturn's (its relay IP is 127.0.0.1).
        for line in (client.offer_sdp + answer).splitlines():
            if " typ relay" in line:
                assert line.split()[4] == "127.0.0.1", line

        await asyncio.wait_for(client.connected.wait(), 15)
        assert client.selected_types == ("relay", "relay")
        assert client.pc is not None
        pair = selected_pair(client.pc)
        assert pair is not None
        local, remote = pair
        assert (local.type, remote.type) == ("relay", "relay")
        # The gateway's side of the same call chose a relay pair too.
        session = gw.sessions[hello["sessionId"]]
        assert session.pc is not None
        gw_pair = selected_pair(session.pc)
        assert gw_pair is not None
        gw_local, gw_remote = gw_pair
        assert (gw_local.type, gw_remote.type) == ("relay", "relay")
        assert (gw_remote.host, gw_remote.port) == (local.host, local.port)

        await asyncio.wait_for(track.finished.wait(), track.duration + 30)
        await client.bye()
    finally:
        await client.close()
    return client


async def test_relay_only_call_transcribes_accurately(
    start_gateway: StartGateway, coturn: CoturnProcess, model_path: Path
) -> None:
    # The three shortest read-prose sentences (3.0-5.3 s, 29 words), one relay call each.
    librivox = [u for u in require_pocketsphinx_corpus() if u.set == "librivox"]
    corpus = sorted(librivox, key=lambda u: u.path.stat().st_size)[:3]
    gw = await start_gateway(turn_urls=(coturn.url,), turn_secret=TURN_SECRET, turn_ttl=TTL,
                             ice_transport_policy="relay", insights=False)
    clients = await asyncio.gather(
        *(relay_call(gw, coturn, u.path, i) for i, u in enumerate(corpus)))

    through, direct = WerStats(), WerStats()
    model = vosk.Model(str(model_path))
    for utterance, client in zip(corpus, clients, strict=True):
        through.add(utterance.transcript, client.final_text())
        direct.add(utterance.transcript, direct_transcript(model, utterance.path))
        assert client.connected_after is not None
    print(f"\nrelay-only via coturn: {through.summary()}\ndirect Vosk: {direct.summary()}"
          f"\nconnect (offer->connected): "
          f"{[round(1000 * (c.connected_after or 0)) for c in clients]} ms")
    assert through.wer <= direct.wer + MAX_WER_OVER_DIRECT
    assert through.wer <= 0.30


# -- failures: each must say what is wrong --------------------------------------------------


async def test_wrong_secret_relay_only_offer_fails_with_401(
    start_gateway: StartGateway, coturn: CoturnProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway")
    gw = await start_gateway(turn_urls=(coturn.url,), turn_secret="not-" + TURN_SECRET,
                             ice_transport_policy="relay", insights=False)
    # The start-up health check logged the cause before any client came.
    startup = [r for r in caplog.records if r.name == "gateway.transports.webrtc.ice"
               and r.levelno == logging.ERROR and "401" in r.getMessage()]
    assert startup, caplog.text
    assert "rejected the credentials" in startup[0].getMessage()
    assert "--turn-secret" in startup[0].getMessage()

    client = GatewayClient(gw.url)
    await client.connect()
    try:
        client.peer(WavTrack(SILENCE), relay=True)
        with pytest.raises(RuntimeError) as raised:
            await client.offer()
        message = str(raised.value)
        assert message.startswith("offer rejected: turn_unavailable: "), message
        assert "rejected the credentials (401 Unauthorized)" in message
        assert "--turn-secret" in message and coturn.url in message
        # Relay-only cannot work without TURN: the gateway closed the connection.
        await asyncio.wait_for(client.signaling_closed.wait(), 5)
    finally:
        await client.close()


async def test_coturn_secret_changed_policy_all_connects_over_host_and_warns(
    start_gateway: StartGateway,
) -> None:
    """TURN healthy at start-up, then coturn's secret changes (a rotation done on one side).

    The gateway's own allocation gets 401 on the next call. With the "all" policy the call
    still connects over host candidates, and the client is told why there is no relay.
    """
    port = free_port()
    before = CoturnProcess(port=port, secret="first-secret")
    await before.start()
    try:
        gw = await start_gateway(turn_urls=(before.url,), turn_secret="first-secret",
                                 insights=False)
    finally:
        before.stop()
    async with CoturnProcess(port=port, secret="second-secret"):
        client = GatewayClient(gw.url)
        await client.connect()
        try:
            client.peer(WavTrack(SILENCE))
            answer = await client.offer(tolerate=("turn_unavailable",))
            assert "relay" not in candidate_types(answer)
            error = await client.error(timeout=5)
            assert error["code"] == "turn_unavailable"
            assert "rejected the credentials (401 Unauthorized)" in error["message"]
            await asyncio.wait_for(client.connected.wait(), 10)
            assert client.selected_types == ("host", "host")
            await client.wait_result(
                lambda m: m.get("message", {}).get("type") == "recognition_started", 10)
        finally:
            await client.close()


async def test_wrong_secret_policy_all_client_is_told(
    start_gateway: StartGateway, coturn: CoturnProcess
) -> None:
    gw = await start_gateway(turn_urls=(coturn.url,), turn_secret="not-" + TURN_SECRET,
                             insights=False)
    client = GatewayClient(gw.url)
    await client.connect()
    try:
        client.peer(WavTrack(SILENCE))
        # A plain offer(): the warning must come after the answer, not instead of it.
        await client.offer()
        await asyncio.wait_for(client.connected.wait(), 10)
        assert client.selected_types == ("host", "host")  # the call itself works
        error = await client.error(timeout=3)
        assert error["code"] == "turn_unavailable"
        assert "401" in error["message"]
    finally:
        await client.close()


async def test_unreachable_turn_relay_only(
    start_gateway: StartGateway, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway")
    url = f"turn:127.0.0.1:{closed_port}?transport=udp"
    gw = await start_gateway(turn_urls=(url,), turn_secret=TURN_SECRET,
                             ice_transport_policy="relay", insights=False)
    startup = [r.getMessage() for r in caplog.records
               if r.name == "gateway.transports.webrtc.ice" and r.levelno == logging.ERROR]
    assert any(url in m and "nothing listens on" in m for m in startup), caplog.text

    client = GatewayClient(gw.url)
    await client.connect()
    try:
        client.peer(WavTrack(SILENCE), relay=True)
        started = time.monotonic()
        with pytest.raises(RuntimeError) as raised:
            await client.offer()
        took = time.monotonic() - started
        message = str(raised.value)
        assert message.startswith("offer rejected: turn_unavailable: "), message
        assert url in message
        assert "refused the connection: nothing listens on" in message
        assert "is coturn running" in message
        print(f"\nrelay-only offer to a closed TURN port answered with an error in {took:.2f} s")
    finally:
        await client.close()


async def test_unanswering_turn_logged_at_startup(
    start_gateway: StartGateway, black_hole: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A TURN port that drops packets (a firewall): the health check says "did not answer"."""
    caplog.set_level(logging.WARNING, logger="gateway")
    await start_gateway(turn_urls=(black_hole,), turn_secret=TURN_SECRET, insights=False)
    logged = [r for r in caplog.records if r.name == "gateway.transports.webrtc.ice"]
    assert any(r.levelno == logging.WARNING and black_hole in r.getMessage()
               and "did not answer within 3 s: unreachable" in r.getMessage()
               for r in logged), caplog.text
    assert any("UNUSABLE" in r.getMessage() for r in logged)


async def test_expired_credential_is_named(coturn: CoturnProcess) -> None:
    expired = rest_credential(TURN_SECRET, "late-client", 60, now=time.time() - 160)
    with pytest.raises(TurnCheckError) as raised:
        await check_turn(coturn.url, expired.username, expired.password)
    assert raised.value.reason == "expired"
    message = str(raised.value)
    assert "rejected the credentials (401 Unauthorized): credential expired at" in message
    assert "s ago); fetch fresh ones (GET /api/ice-servers)" in message
    # The same secret with a live expiry is accepted: expiry alone caused the 401.
    fresh = rest_credential(TURN_SECRET, "late-client", 60)
    await accepted(coturn.url, fresh.username, fresh.password)


# -- GET /api/ice-servers --------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["relay", "all"])
async def test_ice_servers_endpoint_fresh_and_uncached(
    start_gateway: StartGateway, coturn: CoturnProcess, policy: str
) -> None:
    gw = await start_gateway(turn_urls=(coturn.url,), stun_urls=(coturn.stun_url,),
                             turn_secret=TURN_SECRET, turn_ttl=TTL,
                             ice_transport_policy=policy, insights=False)
    async with aiohttp.ClientSession() as http:
        bodies = []
        for attempt in range(2):
            if attempt:
                await asyncio.sleep(1.05)  # usernames carry whole seconds
            async with http.get(gw.url + "/api/ice-servers?user=page") as response:
                assert response.status == 200
                assert response.headers["Cache-Control"] == "no-store"
                bodies.append((time.time(), await response.json()))

    (t1, first), (t2, second) = bodies
    for body in (first, second):
        assert body["iceTransportPolicy"] == policy
        assert {"urls": [coturn.stun_url]} in body["iceServers"]
    turn1, turn2 = turn_entry(first), turn_entry(second)
    parsed1 = parse_rest_username(turn1["username"])
    parsed2 = parse_rest_username(turn2["username"])
    assert parsed1 is not None and parsed2 is not None
    assert parsed1[1] == parsed2[1] == "page"
    assert abs(parsed1[0] - (t1 + TTL)) <= 5 and abs(parsed2[0] - (t2 + TTL)) <= 5
    assert parsed2[0] > parsed1[0]  # minted at each request, not cached
    assert turn1["credential"] != turn2["credential"]
    # And they are real: coturn accepts the credential the endpoint handed out.
    assert await accepted(coturn.url, turn2["username"], turn2["credential"]) < 1.0
