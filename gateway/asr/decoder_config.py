"""Tuned Vosk decoder settings, applied through an overlay of the user's model directory.

Vosk reads its decoder options (``--max-active``, ``--beam``, ``--lattice-beam``) and its
endpoint rules from ``<model>/conf/model.conf`` when the model is loaded, and offers no API
to change them afterwards (vosk 0.3.45). The user's model must never be edited (it may be
read-only, shared, or verified by checksums), so :func:`build_overlay` builds a directory
in a cache whose entries are symlinks to the model's files and whose ``conf/model.conf``
is the model's own with our overrides applied; ``vosk.Model(overlay)`` then loads the
model's data unchanged under the tuned settings.

The overlay's name is a hash of the model's real path, its ``model.conf`` and the
overrides, so a changed model or setting gets a fresh overlay and concurrent gateways on
one cache agree; it is built in a temporary directory and renamed into place atomically.

Defaults come from ``bench/decoder_sweep.py`` (see :data:`TUNED`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MODEL_CONF",
    "TUNED",
    "DecoderConfig",
    "ModelLayoutError",
    "build_overlay",
    "read_model_conf",
    "render_model_conf",
]

MODEL_CONF = Path("conf") / "model.conf"


class ModelLayoutError(ValueError):
    """The model directory cannot take an overlay (no ``conf/model.conf``)."""


@dataclass(frozen=True, slots=True)
class DecoderConfig:
    """Overrides for ``conf/model.conf``; ``None`` keeps the model's own value.

    ``endpoint_silence`` sets Vosk's rule 2/3/4 trailing silences (seconds) as one tuple.
    ``extra`` takes any other Kaldi option by its name without dashes, e.g.
    ``{"min-active": "200"}``.
    """

    max_active: int | None = None
    beam: float | None = None
    lattice_beam: float | None = None
    endpoint_silence: tuple[float, float, float] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def overrides(self) -> dict[str, str]:
        """The options this config changes, as ``{name: value}`` (names without dashes)."""
        out: dict[str, str] = {}
        if self.max_active is not None:
            if self.max_active < 1:
                raise ValueError("max_active must be >= 1")
            out["max-active"] = str(self.max_active)
        for name, value in (("beam", self.beam), ("lattice-beam", self.lattice_beam)):
            if value is not None:
                if value <= 0:
                    raise ValueError(f"{name} must be > 0")
                out[name] = f"{value:g}"
        if self.endpoint_silence is not None:
            for rule, seconds in zip((2, 3, 4), self.endpoint_silence, strict=True):
                if seconds <= 0:
                    raise ValueError("endpoint silences must be > 0")
                out[f"endpoint.rule{rule}.min-trailing-silence"] = f"{seconds:g}"
        for option, text in self.extra.items():
            if not option or option.startswith("-") or "=" in option or "\n" in option + text:
                raise ValueError(f"bad Kaldi option {option!r}={text!r}")
            out[option] = text
        return out


TUNED = DecoderConfig(max_active=2000)
"""What ``bench/decoder_sweep.py`` kept for vosk-model-small-en-us-0.15 (NOTES-vad.md):
``max-active`` 2000 (model: 3000) never changed a word and lowered CPU where the search
is wide; narrower beams cost words, and the model's endpoint rules are kept as the
backstop behind the VAD's endpoints."""


def read_model_conf(model: Path) -> dict[str, str]:
    """The model's ``conf/model.conf`` as ``{name: value}``, in file order."""
    path = model / MODEL_CONF
    if not path.is_file():
        raise ModelLayoutError(f"{model}: no {MODEL_CONF} (an old-layout model cannot be tuned)")
    options: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        name, _, value = text.lstrip("-").partition("=")
        options[name] = value
    return options


def render_model_conf(options: Mapping[str, str]) -> str:
    """``--name=value`` lines, as Kaldi's ``ParseOptions::ReadConfigFile`` reads them."""
    return "".join(f"--{name}={value}\n" for name, value in options.items())


def build_overlay(model: Path, config: DecoderConfig, cache: Path) -> Path:
    """A directory that loads as ``model`` under ``config``; ``model`` if nothing changes.

    Every top-level entry of the model except ``conf`` is a symlink to the original, and
    so is every file of ``conf`` except ``model.conf``, which is rewritten. Raises
    :class:`ModelLayoutError` for a model without ``conf/model.conf``.
    """
    model = model.resolve()
    overrides = config.overrides()
    original = read_model_conf(model)
    if not overrides:
        return model
    merged = {**original, **overrides}
    text = render_model_conf(merged)
    key = hashlib.sha256(
        "\0".join([str(model), (model / MODEL_CONF).read_text(encoding="utf-8"), text]).encode()
    ).hexdigest()[:16]
    target = cache / f"{model.name}-{key}"
    if (target / MODEL_CONF).is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=cache))
    try:
        for entry in model.iterdir():
            if entry.name != "conf":
                (staging / entry.name).symlink_to(entry)
        (staging / "conf").mkdir()
        for entry in (model / "conf").iterdir():
            if entry.name != MODEL_CONF.name:
                (staging / "conf" / entry.name).symlink_to(entry)
        (staging / MODEL_CONF).write_text(text, encoding="utf-8")
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / MODEL_CONF).is_file():  # not a lost race: a real failure
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
