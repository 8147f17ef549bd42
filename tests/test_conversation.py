"""Shared conversations: two participants, one insights engine, everyone gets the results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.config import SessionSettings
from gateway.conversation.conversation import shift
from gateway.transcript import Phrase, Speaker, Word
from tests.conftest import StartGateway
from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k
from tests.support.speech import espeak_wav, require_espeak

ALEX = "can you send me the updated contract before the end of the week"
SAM = "i will call the customer tomorrow morning about the renewal"


def test_shift_moves_phrase_and_words_onto_the_conversation_clock() -> None:
    phrase = Phrase("m", "a b", Speaker(name="x"), 1.0, 2.0,
                    (Word("a", 1.0, 1.4, 1.0), Word("b", 1.5, 2.0, 1.0)))
    moved = shift(phrase, 2.5)
    assert (moved.start, moved.end) == (3.5, 4.5)
    assert [(w.start, w.end) for w in moved.words] == [(3.5, 3.9), (4.0, 4.5)]
    assert shift(phrase, 0.0) is phrase


def message_from(name: str) -> Callable[[dict[str, Any]], bool]:
    def match(message: dict[str, Any]) -> bool:
        return (message["type"] == "message_response"
                and message["messages"][0]["from"]["name"] == name)

    return match


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require_espeak()
    folder = tmp_path_factory.mktemp("voices")
    return (espeak_wav(ALEX, folder / "alex.wav", pad=0.5),
            espeak_wav(SAM, folder / "sam.wav", pad=0.5, voice="en-us+f3"))


@pytest.mark.slow
async def test_two_participants_share_results_and_analytics(
    start_gateway: StartGateway, voices: tuple[Path, Path]
) -> None:
    gw = await start_gateway(settings=SessionSettings(analytics_interval=1.5))
    alex_wav, sam_wav = voices
    room = "call-7f3a9c"

    async def join(name: str, wav: Path, delay: float) -> GatewayClient:
        await asyncio.sleep(delay)
        client = GatewayClient(gw.url)
        await client.connect()
        track = WavTrack(read_wav_48k(wav))
        client.peer(track)
        await client.offer({"conversationId": room,
                            "speaker": {"userId": f"{name.lower()}@example.com", "name": name}})
        await track.finished.wait()
        return client

    # Sam starts talking while Alex is still speaking: their speech overlaps.
    alex, sam = await asyncio.gather(join("Alex", alex_wav, 0.0), join("Sam", sam_wav, 1.5))
    try:
        for client, other in ((alex, "Sam"), (sam, "Alex")):
            await client.wait_result(message_from(other))
        await alex.bye()
        await sam.bye()
    finally:
        await alex.close()
        await sam.close()

    for client in (alex, sam):
        senders = {m["messages"][0]["from"]["name"] for m in client.of_type("message_response")}
        assert senders == {"Alex", "Sam"}, "each participant receives both speakers' messages"
        partial_users = {r["user"]["name"] for r in client.of_type("recognition_result")}
        assert len(partial_users) == 1, "live transcripts stay with their own speaker"
        insights = {i["from"]["name"]: i for m in client.of_type("insight_response")
                    for i in m["insights"]}
        assert set(insights) == {"Alex", "Sam"}

    # Alex's request ("can you ...") is assigned to the other participant: Sam.
    alex_insights = [i for m in alex.of_type("insight_response") for i in m["insights"]
                     if i["from"]["name"] == "Alex"]
    assert alex_insights[0]["assignee"]["name"] == "Sam"

    reports = alex.of_type("analytics_response") + sam.of_type("analytics_response")
    two = [r for r in reports if len(r["members"]) == 2]
    assert two, "analytics cover both speakers"
    last = two[-1]
    overlap = next(m for m in last["metrics"] if m["type"] == "total_overlap")
    assert overlap["seconds"] > 0.5, "the speakers talked over each other"
    members = {m["name"]: m for m in last["members"]}
    assert members["Alex"]["id"] == alex.hello["sessionId"]
    assert members["Sam"]["listenTime"]["seconds"] > 0
    assert not gw.directory.conversations, "the conversation ends with its last participant"


@pytest.mark.slow
async def test_answer_names_the_conversation_and_capacity_is_enforced(
    start_gateway: StartGateway, voices: tuple[Path, Path]
) -> None:
    gw = await start_gateway()
    gw.directory.max_participants = 1
    alex_wav, _ = voices
    first, second = GatewayClient(gw.url), GatewayClient(gw.url)
    try:
        await first.connect()
        first.peer(WavTrack(read_wav_48k(alex_wav)))
        await first.offer({"conversationId": "room-1"})
        assert first.answer["conversationId"] == "room-1"
        assert "room-1" in gw.directory.conversations

        await second.connect()
        second.peer(WavTrack(read_wav_48k(alex_wav)))
        with pytest.raises(RuntimeError, match="conversation_full"):
            await second.offer({"conversationId": "room-1"})
        # Not fatal: the same connection may join another conversation.
        await second.offer({"conversationId": "room-2"})
        assert set(gw.directory.conversations) == {"room-1", "room-2"}
        # Without a conversationId each session gets a private one, named in the answer.
        third = GatewayClient(gw.url)
        await third.connect()
        third.peer(WavTrack(read_wav_48k(alex_wav)))
        await third.offer()
        private = third.answer["conversationId"]
        assert private in gw.directory.conversations and len(private) >= 16
        await third.close()
    finally:
        await first.close()
        await second.close()


async def test_bad_conversation_id(start_gateway: StartGateway, voices: tuple[Path, Path]) -> None:
    gw = await start_gateway()
    client = GatewayClient(gw.url)
    try:
        await client.connect()
        client.peer(WavTrack(read_wav_48k(voices[0])))
        for bad in ("", "has spaces", "x" * 200, 42):
            with pytest.raises(RuntimeError, match="config.conversationId"):
                await client.offer({"conversationId": bad})
    finally:
        await client.close()
