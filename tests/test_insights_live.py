"""Insights through the real gateway: spoken questions and action items come back live."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.config import SessionSettings
from tests.conftest import StartGateway
from tests.rtc_client import stream_wav
from tests.support.speech import SpeechSample, espeak_wav, require_espeak

pytestmark = pytest.mark.slow

# Sentences the small model recognises well enough from espeak's voice (checked by hand:
# minor word errors remain, e.g. "price of" -> "price on", which the rules tolerate).
PHRASES = (
    "can you send me the updated contract before the end of the week",
    "what is the price of the new plan",
    "i will call the customer tomorrow morning about the renewal",
)


@pytest.fixture(scope="module")
def call_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_espeak()
    folder = tmp_path_factory.mktemp("call")
    parts = [SpeechSample.read(espeak_wav(p, folder / f"{i}.wav", pad=0.8))
             for i, p in enumerate(PHRASES)]
    joined = SpeechSample(np.concatenate([p.samples for p in parts]), parts[0].rate)
    return joined.write(folder / "call.wav")


async def test_questions_action_items_topics_trackers_analytics(
    start_gateway: StartGateway, call_wav: Path
) -> None:
    gw = await start_gateway(settings=SessionSettings(analytics_interval=2.0))
    config = {
        "speaker": {"userId": "ann@example.com", "name": "Ann"},
        "config": {"timezoneOffset": -60},
        "trackers": [{"name": "Contracts", "vocabulary": ["contracts"]},
                     {"name": "Empty", "vocabulary": []}],
    }
    client = await stream_wav(gw.url, call_wav, config)

    insights = [i for m in client.of_type("insight_response") for i in m["insights"]]
    kinds = [i["type"] for i in insights]
    assert kinds.count("action_item") == 2 and kinds.count("question") == 1
    message_ids = {m["messages"][0]["id"] for m in client.of_type("message_response")}
    participant = client.hello["sessionId"]
    for insight in insights:
        assert insight["messageReference"]["id"] in message_ids
        assert insight["from"] == {"userId": "ann@example.com", "name": "Ann", "id": participant}
        assert insight["payload"]["content"][0].isupper()
    question = next(i for i in insights if i["type"] == "question")
    assert question["payload"]["content"].endswith("?")
    # "tomorrow morning" resolves to a due date; "I will" assigns the speaker.
    call = next(i for i in insights if "customer" in i["payload"]["content"])
    assert call["assignee"]["name"] == "Ann" and call["dueBy"]["value"].endswith("+01:00")

    for response in client.of_type("message_response"):
        sentiment = response["messages"][0]["sentiment"]
        assert -1 <= sentiment["polarity"]["score"] <= 1
        assert sentiment["suggested"] in ("positive", "neutral", "negative")

    topics = client.of_type("topic_response")
    assert topics and any("contract" in t["phrases"] for t in topics[-1]["topics"])
    trackers = client.of_type("tracker_response")
    assert [t["name"] for r in trackers for t in r["trackers"]] == ["Contracts"]

    analytics = client.of_type("analytics_response")
    assert analytics
    (member,) = analytics[-1]["members"]
    assert member["id"] == participant and member["talkTime"]["percentage"] == 100.0
    assert member["pace"]["wpm"] > 60


async def test_only_requested_insight_types_are_sent(start_gateway: StartGateway,
                                                     call_wav: Path) -> None:
    gw = await start_gateway()
    client = await stream_wav(gw.url, call_wav, {"insightTypes": ["question"]})
    kinds = {i["type"] for m in client.of_type("insight_response") for i in m["insights"]}
    assert kinds == {"question"}


async def test_transcripts_only_mode(start_gateway: StartGateway, call_wav: Path) -> None:
    gw = await start_gateway(insights=False)
    client = await stream_wav(gw.url, call_wav)
    assert client.of_type("message_response")
    assert not client.of_type("insight_response") and not client.of_type("topic_response")
    assert "sentiment" not in client.of_type("message_response")[0]["messages"][0]
