"""A session's choice of downstreams: names, client URLs under the allow-list, options."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.conversation.start_config import ConfigError, parse_start_config
from gateway.protocols.downstream import StreamInfo
from gateway.relays.allow import AllowList
from gateway.relays.choice import DownstreamPolicy
from gateway.relays.targets import Target

POLICY = DownstreamPolicy(
    (Target("crm", "twilio", "wss://crm.example.org/media", {"tracks": "both"}, token="t0k",
            select="always"),
     Target("asr", "vosk", "ws://10.0.0.5:2700/"),
     Target("audit", "jambonz", "wss://audit.example.org/", select="request")),
    AllowList(["wss://*.example.net", "ws://127.0.0.1:*/"]))


def labels(raw: Any) -> list[str]:
    start = parse_start_config(raw, downstreams=POLICY)
    assert start.downstreams is not None
    return [t.label for t in start.downstreams]


def test_defaults_always_and_default_ones() -> None:
    assert labels({}) == ["crm", "asr"]
    assert labels(None) == ["crm", "asr"]


def test_a_list_replaces_the_defaults_but_not_always() -> None:
    assert labels({"downstreams": []}) == ["crm"]
    assert labels({"downstreams": ["audit"]}) == ["crm", "audit"]
    assert labels({"downstreams": [{"name": "asr"}, "asr", "crm"]}) == ["crm", "asr"]


def test_client_url_with_options() -> None:
    start = parse_start_config({"downstreams": [
        {"url": "wss://asr.example.net/{participantId}", "protocol": "vosk", "name": "mine",
         "options": {"sampleRate": 8000, "phraseList": ["yes", "no"]}}]}, downstreams=POLICY)
    assert start.downstreams is not None
    mine = start.downstreams[-1]
    assert (mine.label, mine.source, mine.token) == ("mine", "client", None)
    info = mine.stream_info("c/1", participant_id="p 1")
    assert mine.url_for(info) == "wss://asr.example.net/p%201"
    protocol = mine.build(info)
    assert protocol.opening() == ['{"config": {"sample_rate": 8000, "words": 1, '
                                  '"phrase_list": ["yes", "no"]}}']


@pytest.mark.parametrize(("raw", "field", "why"), [
    ({"downstreams": "crm"}, "config.downstreams", "must be a list"),
    ({"downstreams": ["nope"]}, "config.downstreams[0]", "no configured downstream"),
    ({"downstreams": [{"url": "ws://169.254.169.254/", "protocol": "vosk"}]},
     "config.downstreams[0].url", "not allowed"),
    ({"downstreams": [{"url": "wss://a.example.net/", "protocol": "rtmp"}]},
     "config.downstreams[0].protocol", "unknown downstream protocol"),
    ({"downstreams": [{"url": "wss://a.example.net/", "protocol": "jambonz",
                       "options": {"mixType": "quad"}}]},
     "config.downstreams[0].options", "mixType must be"),
    ({"downstreams": [{"url": "wss://a.example.net/", "protocol": "twilio",
                       "options": {"sampleRate": 16000}}]},
     "config.downstreams[0].options", "8000 Hz only"),
    ({"downstreams": [{"url": "wss://a.example.net/", "protocol": "vosk",
                       "options": {"sampleRate": "16000"}}]},
     "config.downstreams[0].options.sampleRate", "must be an integer"),
    ({"downstreams": [{"url": "wss://a.example.net/", "protocol": "vosk",
                       "options": {"model": "/etc"}}]},
     "config.downstreams[0].options.model", "unknown option"),
    ({"downstreams": [{"url": "wss://a.example.net/", "protocol": "vosk", "token": "x"}]},
     "config.downstreams[0]", "unknown keys"),
    ({"downstreams": [{"name": "asr", "protocol": "vosk"}]}, "config.downstreams[0]",
     "either a configured downstream's name"),
    ({"downstreams": ["a", "b", "c", "d", "e"]}, "config.downstreams", "at most 4"),
    ({"downstreams": [{"url": "wss://a.example.net/", "protocol": "vosk", "name": "a b"}]},
     "config.downstreams[0].name", "letters, digits"),
])
def test_errors_name_the_field(raw: dict[str, Any], field: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_start_config(raw, downstreams=POLICY)
    assert info.value.field == field
    assert why in info.value.message


def test_without_the_policy_the_choice_waits_for_the_relays() -> None:
    start = parse_start_config({"downstreams": ["nope"]})
    assert start.downstreams is None and start.raw["downstreams"] == ["nope"]


def test_shared_streams_are_keyed_by_what_they_are() -> None:
    crm = POLICY.configured[0]
    assert crm.mixes and crm.key == ("deployment", "crm")
    assert not POLICY.configured[1].mixes
    assert crm.headers == {"Authorization": "Bearer t0k"} and "t0k" not in repr(crm)


def test_a_symbl_downstream_opens_with_the_clients_start_request() -> None:
    target = Target("b", "symbl", "wss://b.example.net/v1/streaming/{streamId}")
    info = StreamInfo("conv", "p1")
    protocol = target.build(info, start={"insightTypes": ["question"], "conversationId": "conv",
                                         "downstreams": ["b"], "config": {"meetingTitle": "M"}})
    start = protocol.start_request  # type: ignore[attr-defined]
    assert start["insightTypes"] == ["question"] and start["config"]["meetingTitle"] == "M"
    assert "downstreams" not in start and "conversationId" not in start
    assert target.url_for(info).endswith(str(info.derived_id("stream")))


def test_a_results_relay_url_gets_the_conversation_id() -> None:
    target = Target("r", "results", "wss://r.example.org/ingest?tenant=acme")
    assert target.url_for(StreamInfo("c 1")) == \
        "wss://r.example.org/ingest?tenant=acme&conversationId=c+1"
