"""How speech is recognised: the speech gate in front of the recogniser and the decoder's
settings, as flags (``--vad``, ``--endpoint-silence-ms``, ...) and ``GATEWAY_*`` variables.

The defaults are the measured ones (NOTES-vad.md, docs/performance.md): Silero, a phrase
ends after 200 ms of trailing silence (Silero's probability lags speech by ~80 ms, so a
0.3 s pause between sentences looks like ~0.2 s of silence), 300 ms of pre-roll, 200 ms
of hangover, a final at least every 20 s of continuous speech, and Vosk's ``max-active``
2000 (the one decoder change that never cost a word).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.envvars import env_int
from gateway.model.cache import default_cache_dir
from gateway.pipeline.endpointer import EndpointerConfig
from gateway.pipeline.gate import VAD_CHOICES, GateConfig

from .decoder_config import TUNED, DecoderConfig

DEFAULT_HANGOVER_MS = 200


@dataclass(frozen=True, slots=True)
class RecognitionConfig:
    vad: str = "silero"
    endpoint_silence_ms: int = 200
    pre_roll_ms: int = 300
    hangover_ms: int | None = None
    """None: ``DEFAULT_HANGOVER_MS``, but never more than ``endpoint_silence_ms``."""
    max_phrase_ms: int = 20_000
    decoder_max_active: int | None = TUNED.max_active
    """None (``--decoder-max-active 0``): the model's own setting."""
    decoder_frames_per_chunk: int | None = None
    """Audio frames (10 ms) the network evaluates at a time; None: the model's (Kaldi's 21).
    Partials move in steps of this size: 9 gave first partials ~150 ms sooner for ~25 %
    more recognition CPU, 51 ~23 % less CPU for partials 100-300 ms later
    (``bench/phrase_start.py``)."""
    overlay_dir: str | None = None
    """Where the tuned overlay of the model is built; None: ``<cache>/overlays``."""

    def gate(self) -> GateConfig:
        """The gate's settings (ValueError names an inconsistent combination)."""
        hangover = self.hangover_ms
        if hangover is None:
            hangover = min(DEFAULT_HANGOVER_MS, self.endpoint_silence_ms)
        return GateConfig(self.vad, EndpointerConfig(
            pre_roll_ms=self.pre_roll_ms, hangover_ms=hangover,
            endpoint_silence_ms=self.endpoint_silence_ms, max_phrase_ms=self.max_phrase_ms))

    def decoder(self) -> DecoderConfig | None:
        """The overlay's settings; None when the model is used as it is."""
        if self.decoder_max_active is None and self.decoder_frames_per_chunk is None:
            return None
        extra = {} if self.decoder_frames_per_chunk is None else {
            "frames-per-chunk": str(self.decoder_frames_per_chunk)}
        return DecoderConfig(max_active=self.decoder_max_active, extra=extra)

    def overlay_path(self) -> Path:
        return Path(self.overlay_dir) if self.overlay_dir else default_cache_dir() / "overlays"


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def add_recognition_arguments(p: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    d = RecognitionConfig()
    g = p.add_argument_group("recognition")
    g.add_argument("--vad", choices=VAD_CHOICES, default=env.get("GATEWAY_VAD", d.vad),
                   help="voice activity detection in front of the recogniser: 'silero' (the "
                   "default: accurate in noise), 'webrtc' (cheaper, fooled by noise) or "
                   "'off' (every chunk is recognised; Vosk's own endpointing, which merges "
                   "sentences) (env GATEWAY_VAD)")
    g.add_argument("--endpoint-silence-ms", type=_non_negative,
                   default=env_int(env, "GATEWAY_ENDPOINT_SILENCE_MS", d.endpoint_silence_ms),
                   help="trailing silence that ends a phrase, in ms (env "
                   "GATEWAY_ENDPOINT_SILENCE_MS; default %(default)s: splits sentences "
                   "separated by 0.3 s pauses)")
    g.add_argument("--vad-pre-roll-ms", type=_non_negative,
                   default=env_int(env, "GATEWAY_VAD_PRE_ROLL_MS", d.pre_roll_ms),
                   help="audio before detected speech that is still recognised, in ms (env "
                   "GATEWAY_VAD_PRE_ROLL_MS; default %(default)s)")
    g.add_argument("--vad-hangover-ms", type=_non_negative,
                   default=env_int(env, "GATEWAY_VAD_HANGOVER_MS", d.hangover_ms),
                   help="silence after speech still recognised, in ms, at most the endpoint "
                   f"silence (env GATEWAY_VAD_HANGOVER_MS; default {DEFAULT_HANGOVER_MS})")
    g.add_argument("--max-phrase-ms", type=_non_negative,
                   default=env_int(env, "GATEWAY_MAX_PHRASE_MS", d.max_phrase_ms),
                   help="continuous speech is cut into phrases of at most this length, in ms "
                   "(env GATEWAY_MAX_PHRASE_MS; default %(default)s)")
    g.add_argument("--decoder-max-active", type=_non_negative,
                   default=env_int(env, "GATEWAY_DECODER_MAX_ACTIVE", d.decoder_max_active),
                   help="Vosk's max-active (decoder search width), applied through an overlay "
                   "of the model; 0 keeps the model's own (env GATEWAY_DECODER_MAX_ACTIVE; "
                   "default %(default)s)")
    g.add_argument("--decoder-frames-per-chunk", type=_non_negative,
                   default=env_int(env, "GATEWAY_DECODER_FRAMES_PER_CHUNK", None),
                   help="10 ms frames Vosk's network evaluates at a time: smaller gives "
                   "earlier partials for more CPU (9: ~150 ms earlier, ~25 %% more CPU); 0 "
                   "keeps the model's own (env GATEWAY_DECODER_FRAMES_PER_CHUNK; default: "
                   "the model's, 21)")
    g.add_argument("--overlay-dir", default=env.get("GATEWAY_OVERLAY_DIR") or None,
                   help="where the tuned overlay of the model (symlinks and one model.conf) "
                   "is built (env GATEWAY_OVERLAY_DIR; default <cache dir>/overlays)")


def recognition_config_from_args(args: argparse.Namespace,
                                 parser: argparse.ArgumentParser) -> RecognitionConfig:
    config = RecognitionConfig(
        vad=args.vad, endpoint_silence_ms=args.endpoint_silence_ms,
        pre_roll_ms=args.vad_pre_roll_ms, hangover_ms=args.vad_hangover_ms,
        max_phrase_ms=args.max_phrase_ms,
        decoder_max_active=args.decoder_max_active or None,
        decoder_frames_per_chunk=args.decoder_frames_per_chunk or None,
        overlay_dir=args.overlay_dir)
    try:
        config.gate()
    except ValueError as exc:
        parser.error(str(exc))
    return config
