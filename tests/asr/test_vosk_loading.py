"""Loading the model through the tuned overlay, and falling back to the model as it is."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import vosk

from gateway.asr.decoder_config import TUNED, DecoderConfig, read_model_conf
from gateway.asr.vosk import load_model, tuned_model_dir


def fake_model(root: Path, *, conf: bool = True) -> Path:
    model = root / "model"
    (model / "am").mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"x")
    if conf:
        (model / "conf").mkdir()
        (model / "conf" / "model.conf").write_text("--max-active=3000\n--beam=10.0\n")
    return model


def test_the_overlay_carries_the_tuned_settings(tmp_path: Path) -> None:
    model = fake_model(tmp_path)
    overlay = tuned_model_dir(model, TUNED, tmp_path / "cache")
    assert overlay != model and overlay.parent == tmp_path / "cache"
    assert read_model_conf(overlay) == {"max-active": "2000", "beam": "10.0"}
    assert read_model_conf(model)["max-active"] == "3000"  # the user's model is untouched


def test_nothing_to_change_or_nowhere_to_build_means_the_model_itself(tmp_path: Path) -> None:
    model = fake_model(tmp_path)
    assert tuned_model_dir(model, None, tmp_path / "cache") == model
    assert tuned_model_dir(model, TUNED, None) == model
    assert tuned_model_dir(model, DecoderConfig(), tmp_path / "cache") == model.resolve()


def test_a_model_without_model_conf_is_loaded_as_it_is(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    model = fake_model(tmp_path, conf=False)
    with caplog.at_level(logging.WARNING):
        assert tuned_model_dir(model, TUNED, tmp_path / "cache") == model
    assert "loading the model as it is" in caplog.text


def test_an_unwritable_cache_falls_back(tmp_path: Path) -> None:
    model = fake_model(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert tuned_model_dir(model, TUNED, blocker / "cache") == model


@pytest.mark.slow
async def test_the_real_model_loads_through_its_overlay(model_path: Path,
                                                        tmp_path: Path) -> None:
    loaded = await load_model(model_path, overlay_dir=tmp_path / "overlays")
    (overlay,) = (tmp_path / "overlays").iterdir()
    assert read_model_conf(overlay)["max-active"] == "2000"
    assert isinstance(loaded, vosk.Model)


@pytest.mark.slow
async def test_an_overlay_that_does_not_load_falls_back_to_the_model(
        model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_path, copy)
    # An option Kaldi refuses: the overlay fails to load, the model as it is does not.
    bad = DecoderConfig(extra={"no-such-option": "1"})
    with caplog.at_level(logging.WARNING):
        loaded = await load_model(copy, decoder=bad, overlay_dir=tmp_path / "overlays")
    assert isinstance(loaded, vosk.Model)
    assert "did not load" in caplog.text
