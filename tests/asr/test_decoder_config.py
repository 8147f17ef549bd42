"""The decoder overlay: tuned conf/model.conf over the user's untouched model, in real Vosk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import vosk

from gateway.asr.decoder_config import (
    MODEL_CONF,
    DecoderConfig,
    ModelLayoutError,
    build_overlay,
    read_model_conf,
    render_model_conf,
)
from tests.support.speech import SpeechSample, require_pocketsphinx_corpus
from tests.support.wer import wer


def tree_digest(root: Path) -> str:
    """Hash of every file's path and bytes under ``root`` (symlinks followed)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fake_model(root: Path, conf: str = "--beam=10.0\n--max-active=3000\n") -> Path:
    """A model-shaped directory (layout only) for the file-level tests."""
    (root / "am").mkdir(parents=True)
    (root / "am" / "final.mdl").write_bytes(b"mdl")
    (root / "conf").mkdir()
    (root / "conf" / "mfcc.conf").write_text("--use-energy=false\n")
    (root / "conf" / "model.conf").write_text(conf)
    (root / "README").write_text("model\n")
    return root


def test_overlay_links_everything_but_model_conf(tmp_path: Path) -> None:
    model = fake_model(tmp_path / "model")
    before = tree_digest(model)
    overlay = build_overlay(model, DecoderConfig(max_active=1500, beam=8), tmp_path / "cache")
    assert tree_digest(model) == before  # the user's model is untouched
    assert (overlay / "am").is_symlink() and (overlay / "README").is_symlink()
    assert (overlay / "conf" / "mfcc.conf").is_symlink()
    assert not (overlay / MODEL_CONF).is_symlink()
    assert read_model_conf(overlay) == {"beam": "8", "max-active": "1500"}
    assert (overlay / "am" / "final.mdl").read_bytes() == b"mdl"


def test_overlay_is_reused_and_keyed_by_settings_and_model(tmp_path: Path) -> None:
    model = fake_model(tmp_path / "model")
    cache = tmp_path / "cache"
    first = build_overlay(model, DecoderConfig(beam=8), cache)
    assert build_overlay(model, DecoderConfig(beam=8), cache) == first
    assert build_overlay(model, DecoderConfig(beam=7), cache) != first
    (model / MODEL_CONF).write_text("--beam=12.0\n")  # the user updated the model
    changed = build_overlay(model, DecoderConfig(beam=8), cache)
    assert changed != first
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no debris


def test_no_overrides_means_the_model_itself(tmp_path: Path) -> None:
    model = fake_model(tmp_path / "model")
    assert build_overlay(model, DecoderConfig(), tmp_path / "cache") == model.resolve()
    assert not (tmp_path / "cache").exists()


def test_old_layout_and_bad_values_are_refused(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "final.mdl").write_bytes(b"")
    with pytest.raises(ModelLayoutError, match="conf/model.conf"):
        build_overlay(tmp_path / "v1", DecoderConfig(beam=8), tmp_path / "cache")
    for bad in (DecoderConfig(max_active=0), DecoderConfig(beam=-1.0),
                DecoderConfig(endpoint_silence=(0.5, 0.0, 1.0)),
                DecoderConfig(extra={"--beam": "3"}), DecoderConfig(extra={"a": "1\n--b=2"})):
        with pytest.raises(ValueError):
            bad.overrides()


def test_conf_round_trip_keeps_comments_out_and_order_in(tmp_path: Path) -> None:
    model = fake_model(tmp_path / "m", "# tuned\n--min-active=200\n\n--beam=10.0  # wide\n")
    options = read_model_conf(model)
    assert options == {"min-active": "200", "beam": "10.0"}
    assert render_model_conf(options) == "--min-active=200\n--beam=10.0\n"


# -- in real Vosk ---------------------------------------------------------------------------


@pytest.mark.slow
def test_vosk_loads_the_overlay_with_its_settings(model_path: Path, tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    overlay = build_overlay(model_path, DecoderConfig(max_active=1234, beam=9.5),
                            tmp_path / "cache")
    vosk.SetLogLevel(0)
    try:
        vosk.Model(str(overlay))
    finally:
        vosk.SetLogLevel(-1)
    log = capfd.readouterr().err
    # Vosk logs the decoder settings it parsed from the overlay's conf/model.conf.
    assert "beam=9.5 max-active=1234" in log


@pytest.mark.slow
def test_overlay_recognises_a_real_recording(model_path: Path, tmp_path: Path) -> None:
    corpus = require_pocketsphinx_corpus()
    utterance = next(u for u in corpus if u.set == "librivox")
    overlay = build_overlay(model_path, DecoderConfig(max_active=2000), tmp_path / "cache")
    rec = vosk.KaldiRecognizer(vosk.Model(str(overlay)), 16000)
    sample = SpeechSample.read(utterance.path).padded(0.3, 0.3)
    texts = [json.loads(rec.Result())["text"] for c in sample.chunks(100) if rec.AcceptWaveform(c)]
    texts.append(json.loads(rec.FinalResult())["text"])
    assert wer(utterance.transcript, " ".join(texts)) <= 0.2  # straight Vosk: 0.06 here


@pytest.mark.slow
def test_overlay_endpoint_rules_change_where_vosk_ends_phrases(model_path: Path,
                                                               tmp_path: Path) -> None:
    corpus = require_pocketsphinx_corpus()
    cards = [SpeechSample.read(u.path).samples for u in corpus if u.set == "cards"][:2]
    gap = np.zeros(int(0.8 * 16000), dtype=np.int16)  # longer than rule 2's 0.5 s
    sample = SpeechSample(np.concatenate([cards[0], gap, cards[1], gap]), 16000)

    def vosk_finals(config: DecoderConfig) -> int:
        overlay = build_overlay(model_path, config, tmp_path / "cache")
        rec = vosk.KaldiRecognizer(vosk.Model(str(overlay)), 16000)
        return sum(bool(rec.AcceptWaveform(c)) for c in sample.chunks(100))

    # The model's rules end the first card at the 0.8 s gap; rules longer than the gap
    # (as a gateway that endpoints on its own VAD may want) keep Vosk from ending it.
    # (min-active=200 is the model's own value: an overlay with the model's rules.)
    assert vosk_finals(DecoderConfig(extra={"min-active": "200"})) >= 1
    assert vosk_finals(DecoderConfig(endpoint_silence=(1.5, 2.0, 2.5))) == 0
