"""Relay flags and environment variables: several downstreams, options, allow-list, --asr."""

from __future__ import annotations

import pytest

from gateway.config import parse_config


def test_several_downstreams_with_options() -> None:
    config = parse_config([
        "--downstream", "crm=twilio:wss://crm.example.org/media",
        "--downstream-option", "crm:tracks=both",
        "--downstream-option", "crm:metadata.tenant=acme",
        "--downstream", "asr=vosk:ws://10.0.0.5:2700",
        "--downstream-option", "asr:sampleRate=8000",
        "--downstream-option", "asr:words=false",
        "--downstream-option", "asr:phraseList=yes,no",
        "--downstream-option", "asr:select=request",
        "--downstream", "ana=results:wss://ana.example.org/in",
        "--downstream-allow", "wss://*.example.net",
        "--downstream-buffer", "4.5",
        "--asr", "ws://a:2700", "--asr", "ws://b:2700", "--asr-endpoint", "eof",
    ], env={"GATEWAY_DOWNSTREAM_TOKEN_CRM": "s3cret"})
    relays = config.relays
    crm, asr, ana = relays.downstreams
    assert (crm.protocol, crm.options, crm.token, crm.select) == \
        ("twilio", {"tracks": "both", "metadata": {"tenant": "acme"}}, "s3cret", "default")
    assert asr.options == {"sampleRate": 8000, "words": False, "phraseList": ("yes", "no")}
    assert asr.select == "request" and asr.token is None
    assert ana.carries_results and ana.mixes and crm.mixes and not asr.mixes
    assert relays.allow == ("wss://*.example.net",)
    assert relays.buffer_seconds == 4.5
    assert relays.asr == ("ws://a:2700", "ws://b:2700") and relays.asr_endpoint == "eof"
    assert "s3cret" not in repr(config)


def test_environment() -> None:
    config = parse_config([], env={
        "GATEWAY_DOWNSTREAMS": "a=jambonz:ws://j:1/x b=symbl:wss://s/v1/streaming/{streamId}",
        "GATEWAY_DOWNSTREAM_OPTIONS": "a:mixType=stereo b:insightTypes=question,action_item",
        "GATEWAY_DOWNSTREAM_ALLOW": "ws://127.0.0.1:*, wss://*.example.net",
        "GATEWAY_DOWNSTREAM_BUFFER": "2",
        "GATEWAY_ASR": "ws://a:2700,ws://b:2700",
        "GATEWAY_ASR_ENDPOINT": "reset",
    })
    a, b = config.relays.downstreams
    assert a.options == {"mixType": "stereo"} and a.mixes
    assert b.options == {"insightTypes": ("question", "action_item")}
    assert config.relays.allow == ("ws://127.0.0.1:*", "wss://*.example.net")
    assert config.relays.buffer_seconds == 2.0
    assert config.relays.asr == ("ws://a:2700", "ws://b:2700")
    assert config.relays.asr_endpoint == "reset"


def test_flags_win_over_the_environment() -> None:
    config = parse_config(["--downstream", "x=vosk:ws://flag:1"],
                          env={"GATEWAY_DOWNSTREAMS": "y=vosk:ws://env:1"})
    assert [t.label for t in config.relays.downstreams] == ["x"]


def test_nothing_configured() -> None:
    relays = parse_config([], env={}).relays
    assert relays.downstreams == () and relays.allow == () and relays.asr == ()


@pytest.mark.parametrize(("argv", "why"), [
    (["--downstream", "crm"], "is not NAME=PROTOCOL:URL"),
    (["--downstream", "crm=rtmp:ws://x"], "unknown downstream protocol 'rtmp'"),
    (["--downstream", "crm=vosk:http://x"], "must be a ws:// or wss:// URL"),
    (["--downstream", "a b=vosk:ws://x"], "letters, digits"),
    (["--downstream", "a=vosk:ws://x", "--downstream", "a=vosk:ws://y"], "configured twice"),
    (["--downstream-option", "a:tracks=both"], "names no --downstream"),
    (["--downstream", "a=vosk:ws://x", "--downstream-option", "a:nope=1"], "unknown option"),
    (["--downstream", "a=vosk:ws://x", "--downstream-option", "a:sampleRate=fast"],
     "whole number"),
    (["--downstream", "a=vosk:ws://x", "--downstream-option", "a:words=maybe"], "true or false"),
    (["--downstream", "a=vosk:ws://x", "--downstream-option", "a:select=sometimes"],
     "select must be"),
    (["--downstream", "a=twilio:ws://x", "--downstream-option", "a:tracks=all"],
     "tracks must be"),
    (["--downstream-allow", "wss://a*.org"], "only as '*.domain'"),
    (["--asr", "http://x"], "--asr: must be a ws:// or wss:// URL"),
    (["--downstream-buffer", "0"], "between 0 and 3600"),
])
def test_bad_flags_stop_the_gateway_naming_the_problem(
        argv: list[str], why: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_config(argv, env={})
    assert info.value.code == 2
    assert why in capsys.readouterr().err


def test_bad_environment_values() -> None:
    with pytest.raises(SystemExit, match="GATEWAY_ASR_ENDPOINT"):
        parse_config([], env={"GATEWAY_ASR_ENDPOINT": "sometimes"})
    with pytest.raises(SystemExit, match="GATEWAY_DOWNSTREAM_BUFFER"):
        parse_config([], env={"GATEWAY_DOWNSTREAM_BUFFER": "lots"})
