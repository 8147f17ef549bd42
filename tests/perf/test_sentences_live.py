"""Issue 10's first-user story, end to end: a turn of three sentences separated by ~0.3 s
pauses, spoken over WebRTC (a real aiortc client, Opus, the real model behind the Silero
gate), comes back as three finals, and its question and action item are detected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import StartGateway
from tests.perf.conftest import TURN
from tests.rtc_client import stream_wav
from tests.support.wer import WerStats

pytestmark = pytest.mark.slow


async def test_three_sentences_three_finals_with_their_insights(
        start_gateway: StartGateway, turn_wav: Path) -> None:
    gw = await start_gateway()
    client = await stream_wav(gw.url, turn_wav, {"speaker": {"name": "Ann"}})

    finals = [m["messages"][0] for m in client.of_type("message_response")]
    assert len(finals) == 3, [f["payload"]["content"] for f in finals]
    wer = WerStats()
    for final, sentence in zip(finals, TURN, strict=True):
        wer.add(sentence, final["metadata"]["originalContent"])
    assert wer.wer <= 0.35, wer.summary()  # espeak on the small model: a few words off
    question, action, statement = (f["payload"]["content"] for f in finals)
    assert question.endswith("?") and action.endswith(".") and statement[0].isupper()

    insights = [i for m in client.of_type("insight_response") for i in m["insights"]]
    kinds = {i["type"]: i for i in insights}
    assert "question" in kinds and "action_item" in kinds
    ids = [f["id"] for f in finals]
    assert kinds["question"]["messageReference"]["id"] == ids[0]
    assert kinds["action_item"]["messageReference"]["id"] == ids[1]
    # The partials of each sentence went to the speaker before its final.
    partials = [m for m in client.of_type("recognition_result") if not m["isFinal"]]
    assert partials
