"""The whole gateway with a scripted recogniser: real signaling, real aiortc peers, real
data channel, real insights and outputs, but no model. Seconds instead of minutes, and
exact transcripts, so the plumbing is pinned independently of Vosk's accuracy."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import numpy as np

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from tests.conftest import StartGateway
from tests.rtc_client import GatewayClient, WavTrack

SCRIPT = [ScriptedPhrase("the quarterly numbers look good", 0.3, 1.6),
          ScriptedPhrase("can you send me the report by friday", 2.0, 3.4)]


async def test_scripted_call_through_the_real_gateway(start_gateway: StartGateway) -> None:
    recognizer = ScriptedRecognizer(SCRIPT)
    gw = await start_gateway(recognizer=recognizer)
    async with aiohttp.ClientSession() as http:
        console = await http.ws_connect(gw.url.replace("http", "ws") + "/subscribe/scripted")
        assert (await console.receive_json(timeout=5))["type"] == "subscribed"
        client = GatewayClient(gw.url)
        await client.connect()
        track = WavTrack(np.zeros(48_000 * 4, dtype=np.int16), tail_silence=0.5)
        client.peer(track)
        try:
            await client.offer({"conversationId": "scripted", "speaker": {"name": "Kim"}})
            await asyncio.wait_for(track.finished.wait(), 15)
            await client.bye()
        finally:
            await client.close()
        watched = []
        async for msg in console:
            watched.append(json.loads(msg.data))
    finals = [r for r in client.of_type("recognition_result") if r["isFinal"]]
    assert [f["payload"]["raw"]["alternatives"][0]["transcript"] for f in finals] == \
        [p.text for p in SCRIPT]
    assert finals[1]["punctuated"]["transcript"] == "Can you send me the report by Friday?"
    (insight,) = [i for m in client.of_type("insight_response") for i in m["insights"]]
    assert insight["type"] == "action_item"
    assert client.of_type("recognition_stopped")
    # The console saw exactly what the participant saw, then the end of the conversation.
    assert watched[:-1] == client.results and watched[-1]["type"] == "conversation_ended"
    assert not gw.sessions and not gw.directory.conversations and not gw.bus.conversations()
    (stream,) = recognizer.streams
    assert stream.closed and stream.chunks[0].offset == 0
