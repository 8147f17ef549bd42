"""Two full calls through a gateway with access control, the gateway restarted, then every
Conversation API route returns them, on SQLite and on a real PostgreSQL.

The calls are real: aiortc clients over WebRTC, each presenting a caller token minted for its
call; the recogniser is scripted for speed (one test runs the real Vosk model, marked slow).
"Returns them" is checked three ways: every route against what the conversation published
(``check_everything``), the transcript against what each participant's data channel
delivered (nothing missing, nothing doubled), and the console's recent list, now read from
the store, listing both calls with their summaries after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.auth import Role
from tests.access.calls import Calls
from tests.access.conftest import StartGateway
from tests.access.published import Recorder, check_against_data_channels, published
from tests.access.support import Apps, bearer, token
from tests.store.conftest import Api
from tests.store.test_api import check_everything
from tests.support.speech import ESPEAK_SENTENCES, espeak_wav_48k, require_espeak

TRACKERS = [{"name": "Pricing", "vocabulary": ["price", "discount", "invoice"]},
            {"name": "Competition", "vocabulary": ["sales force"]}]
INSIGHTS: dict[str, Any] = {"insightTypes": ["question", "action_item", "follow_up"],
                            "trackers": TRACKERS}


@pytest.fixture
async def calls() -> AsyncIterator[Calls]:
    made = Calls()
    yield made
    await made.close()


@contextlib.asynccontextmanager
async def api_as(url: str, secret: str) -> AsyncIterator[Api]:
    """The Conversation API as the holder of ``secret`` calls it."""
    async with aiohttp.ClientSession(headers=bearer(secret)) as session:
        yield Api(url, session)


async def test_two_calls_survive_a_restart_on_every_route(
        gateways: StartGateway, apps: Apps, calls: Calls, http: aiohttp.ClientSession,
        database: str) -> None:
    service = await apps.add(Role.SERVICE)
    acme = await apps.add(Role.AGENT, tenant="acme")
    gw = await gateways(database=database)
    recorder = Recorder()
    gw.bus.attach_all(recorder)
    # Call 1 (default tenant): two callers of a service's backend. Call 2 (tenant acme):
    # two callers minted by acme's agent app; the second joins while the first talks.
    tokens = {name: await token(http, gw.url, app, role="caller", conversationIds=[cid])
              for name, app, cid in (("Alice", service, "call-1"), ("Bob", service, "call-1"),
                                     ("Carol", acme, "call-2"), ("Dan", acme, "call-2"))}
    alice = await calls.join(gw.url, tokens["Alice"], "Alice", "call-1", 6, title="Billing",
                             **INSIGHTS)
    carol = await calls.join(gw.url, tokens["Carol"], "Carol", None, 7, title="Renewal",
                             **INSIGHTS)
    bob = await calls.join(gw.url, tokens["Bob"], "Bob", "call-1", 6)
    await asyncio.sleep(1.0)
    dan = await calls.join(gw.url, tokens["Dan"], "Dan", "call-2", 7)
    assert carol.conversation_id == "call-2"
    for participant in (alice, bob, carol, dan):
        await participant.hang_up()
    await gw.store.sink.drain(10)
    assert gw.store.sink.stats.rejected == 0 and gw.store.sink.stats.dropped == 0
    one, two = published(recorder, "call-1"), published(recorder, "call-2")
    assert (one.tenant, two.tenant) == ("default", "acme")

    await gw.stop()
    again = await gateways(database=database)
    secret = await token(http, again.url, service)
    async with api_as(again.url, secret) as api:
        for conversation in (one, two):
            await check_everything(api, conversation)
        await check_against_data_channels(api, "call-1", alice, bob)
        await check_against_data_channels(api, "call-2", carol, dan)
        status, listing = await api.get("/v1/conversations")
        assert [c["id"] for c in listing["conversations"]] == ["call-1", "call-2"]
    # The console's recent list comes from the store now: it survived the restart, per
    # tenant, with the summary a console shows.
    agent = await token(http, again.url, acme)
    async with api_as(again.url, agent) as api:
        status, recent = await api.get("/api/conversations", state="recent")
        assert status == 200
        (summary,) = recent["conversations"]
        assert summary["conversationId"] == "call-2" and summary["tenantId"] == "acme"
        assert summary["state"] == "ended" and summary["meetingTitle"] == "Renewal"
        assert summary["messages"] == len(two.bodies("message_response"))
        assert {p["name"] for p in summary["participants"]} == {"Carol", "Dan"}
        assert summary["latestLine"]["text"] == \
            two.bodies("message_response")[-1]["messages"][-1]["payload"]["content"]
        assert summary["questions"]["count"] == sum(
            1 for b in two.bodies("insight_response") for i in b["insights"]
            if i["type"] == "question")
        # ... and the console's pane reads the whole transcript of the ended call.
        status, body = await api.get("/v1/conversations/call-2/messages")
        assert [m["id"] for m in body["messages"]] == [
            m["id"] for b in two.bodies("message_response") for m in b["messages"]]
        status, _ = await api.get("/v1/conversations/call-1/messages")
        assert status == 404  # the other tenant's, as if it did not exist


@pytest.mark.slow
async def test_a_call_recognised_by_vosk_is_stored_as_the_data_channel_delivered_it(
        gateways: StartGateway, apps: Apps, calls: Calls, http: aiohttp.ClientSession,
        model_path: Path, tmp_path: Path) -> None:
    """The same, with the real model hearing synthetic speech (the scripted recogniser
    above pins the plumbing; this pins real finals, word times and insights)."""
    require_espeak()
    from tests.rtc_client import read_wav_48k

    speech = {name: read_wav_48k(espeak_wav_48k(text, tmp_path / f"{name}.wav", pad=0.5))
              for name, text in (("Erin", ESPEAK_SENTENCES[2]), ("Finn", ESPEAK_SENTENCES[7]))}
    service = await apps.add(Role.SERVICE)
    database = f"sqlite:///{tmp_path / 'store.db'}"
    gw = await gateways(database=database, model=model_path, recognizer=None)
    recorder = Recorder()
    gw.bus.attach_all(recorder)
    caller = await token(http, gw.url, service, role="caller", conversationIds=["vosk-1"])
    erin = await calls.join(gw.url, caller, "Erin", "vosk-1", 0, samples=speech["Erin"],
                            title="Contract", **INSIGHTS)
    finn = await calls.join(gw.url, caller, "Finn", "vosk-1", 0, samples=speech["Finn"])
    for participant in (erin, finn):
        await participant.hang_up()
    await gw.store.sink.drain(10)
    await gw.stop()
    again = await gateways(database=database, model=model_path, recognizer=None)
    async with api_as(again.url, await token(http, again.url, service)) as api:
        await check_everything(api, published(recorder, "vosk-1"))
        stored = await check_against_data_channels(api, "vosk-1", erin, finn)
    said = " ".join(m["text"].lower() for m in stored)
    assert "contract" in said and "everyone" in said  # what each of them said
