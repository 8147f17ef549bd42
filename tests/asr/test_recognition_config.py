"""The recognition flags (``--vad``, endpoint timing, decoder settings) and ``--max-sessions
auto``: names, environment variables and what they build."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.asr.config import RecognitionConfig
from gateway.asr.decoder_config import DecoderConfig
from gateway.config import parse_config


def test_defaults_are_the_measured_ones() -> None:
    config = parse_config([], env={})
    assert config.max_sessions is None  # measured capacity
    recognition = config.recognition
    assert recognition == RecognitionConfig()
    gate = recognition.gate()
    assert gate.vad == "silero"
    timing = gate.endpointer
    assert (timing.endpoint_silence_ms, timing.pre_roll_ms, timing.hangover_ms,
            timing.max_phrase_ms) == (200, 300, 200, 20_000)
    assert recognition.decoder() == DecoderConfig(max_active=2000)


def test_flags() -> None:
    config = parse_config(["--vad", "webrtc", "--endpoint-silence-ms", "350",
                           "--vad-pre-roll-ms", "500", "--vad-hangover-ms", "100",
                           "--max-phrase-ms", "15000", "--decoder-max-active", "1500",
                           "--decoder-frames-per-chunk", "9", "--overlay-dir", "/tmp/o",
                           "--max-sessions", "auto"], env={"GATEWAY_MAX_SESSIONS": "7"})
    recognition = config.recognition
    gate = recognition.gate()
    assert gate.vad == "webrtc" and config.max_sessions is None
    assert (gate.endpointer.endpoint_silence_ms, gate.endpointer.pre_roll_ms,
            gate.endpointer.hangover_ms, gate.endpointer.max_phrase_ms) == (350, 500, 100, 15000)
    assert recognition.decoder() == DecoderConfig(max_active=1500,
                                                  extra={"frames-per-chunk": "9"})
    assert recognition.overlay_path() == Path("/tmp/o")


def test_environment() -> None:
    config = parse_config([], env={"GATEWAY_VAD": "off", "GATEWAY_ENDPOINT_SILENCE_MS": "400",
                                   "GATEWAY_DECODER_MAX_ACTIVE": "0",
                                   "GATEWAY_MAX_SESSIONS": "12"})
    assert config.recognition.vad == "off" and config.max_sessions == 12
    assert config.recognition.gate().endpointer.endpoint_silence_ms == 400
    assert config.recognition.decoder() is None  # the model exactly as it is


def test_a_short_endpoint_silence_shortens_the_default_hangover() -> None:
    gate = parse_config(["--endpoint-silence-ms", "120"], env={}).recognition.gate()
    assert gate.endpointer.hangover_ms == 120


@pytest.mark.parametrize("argv", [["--vad", "energy"], ["--endpoint-silence-ms", "-1"],
                                  ["--vad-hangover-ms", "300"],  # more than the silence
                                  ["--max-phrase-ms", "100"], ["--max-sessions", "none"],
                                  ["--max-sessions", "0"]])
def test_bad_values_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_config(argv, env={})
    assert exc.value.code == 2


def test_a_bad_environment_value_is_named() -> None:
    with pytest.raises(SystemExit) as exc:
        parse_config([], env={"GATEWAY_MAX_SESSIONS": "lots"})
    assert "GATEWAY_MAX_SESSIONS" in str(exc.value.code)


def test_the_overlay_lives_in_the_gateway_cache(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("GATEWAY_CACHE_DIR", str(tmp_path))
    assert RecognitionConfig().overlay_path() == tmp_path / "overlays"
