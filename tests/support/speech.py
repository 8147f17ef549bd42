"""Speech audio for tests and benchmarks: synthetic (espeak-ng) and real (pocketsphinx).

Two sources, for two different questions:

* ``espeak_wav`` synthesises any sentence at test time. Robotic but deterministic and
  clearly articulated, so it is good for "does text come out at all, in order, with
  timings" tests, and for feeding a browser's fake microphone (48 kHz variant).
* ``pocketsphinx_corpus`` returns the real human recordings with reference transcripts
  that Debian ships in ``pocketsphinx-testdata``: the closest thing to real speech we
  can have offline, and what accuracy comparisons should use.

Nothing here downloads anything; both sources are optional system packages, and callers
skip (``require_*``) when one is absent.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

__all__ = [
    "ESPEAK_SENTENCES",
    "POCKETSPHINX_DATA",
    "SpeechSample",
    "Utterance",
    "espeak_available",
    "espeak_wav",
    "espeak_wav_48k",
    "pocketsphinx_corpus",
    "require_espeak",
    "require_pocketsphinx_corpus",
    "resample",
    "support_cache_dir",
]

POCKETSPHINX_DATA = Path(
    os.environ.get("POCKETSPHINX_TESTDATA", "/usr/share/pocketsphinx/test/data")
)
"""Where Debian's ``pocketsphinx-testdata`` installs its recordings."""

_REPO_ROOT = Path(__file__).resolve().parents[2]

# Sentences for synthetic speech: conversational, 12-16 words, numbers spelled out (the
# recognizer writes words, and WER does not convert digits), a mix of questions,
# statements, names and figures, as a meeting-transcription product would hear.
ESPEAK_SENTENCES: tuple[str, ...] = (
    "Let's schedule a follow up meeting with the design team next Tuesday afternoon.",
    "The quarterly revenue grew by twelve percent, which was better than we expected.",
    "Can you send me the updated contract before the end of the week?",
    "I think the biggest risk is that the customer will not renew their subscription in March.",
    "Please remember to book a flight to Boston and reserve a hotel near the conference center.",
    "Our support team answered more than three hundred tickets yesterday without any outages.",
    "She asked whether the new pricing plan would include unlimited storage for small businesses.",
    "We should write down the action items and share them with everyone after the call.",
)


def support_cache_dir() -> Path:
    """Scratch space for generated audio: ``$GATEWAY_TEST_CACHE`` or ``<repo>/.cache``.

    Inside the repository (and gitignored) rather than in /tmp so that repeated runs
    reuse conversions, and a developer can listen to exactly what a test fed in.
    """
    explicit = os.environ.get("GATEWAY_TEST_CACHE")
    path = Path(explicit) if explicit else _REPO_ROOT / ".cache" / "speech"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- WAV handling


def resample(samples: npt.NDArray[np.int16], rate: int, to_rate: int) -> npt.NDArray[np.int16]:
    """Resample mono s16 with libswresample (the same resampler the gateway uses)."""
    if rate == to_rate:
        return samples
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = rate
    frame.pts = 0
    out = resampler.resample(frame) + resampler.resample(None)  # None flushes the tail
    if not out:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in out]).astype(np.int16)


@dataclass(frozen=True)
class SpeechSample:
    """Mono 16-bit PCM audio in memory: ``samples`` (int16, shape (n,)) at ``rate`` Hz."""

    samples: npt.NDArray[np.int16]
    rate: int

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> SpeechSample:
        """Read a 16-bit PCM WAV; multi-channel files are averaged down to mono."""
        with wave.open(os.fspath(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise ValueError(f"{path}: {8 * w.getsampwidth()}-bit WAV, expected 16-bit PCM")
            channels = w.getnchannels()
            rate = w.getframerate()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if channels > 1:
            data = data.reshape(-1, channels).mean(axis=1).round()
        return cls(data.astype(np.int16), rate)

    @classmethod
    def read_raw(cls, path: str | os.PathLike[str], rate: int = 16000) -> SpeechSample:
        """Read headerless little-endian mono s16 (the pocketsphinx ``.raw`` format)."""
        return cls(np.fromfile(path, dtype="<i2").astype(np.int16), rate)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def to(self, rate: int) -> SpeechSample:
        """This audio at another sample rate."""
        return (
            self
            if rate == self.rate
            else SpeechSample(resample(self.samples, self.rate, rate), rate)
        )

    def pcm(self) -> bytes:
        """Little-endian s16 bytes, what Vosk's ``AcceptWaveform`` takes."""
        return self.samples.astype("<i2").tobytes()

    def chunks(self, ms: float) -> Iterator[bytes]:
        """The PCM cut into ``ms``-millisecond pieces (the last one may be shorter)."""
        step = max(1, round(self.rate * ms / 1000))
        for start in range(0, len(self.samples), step):
            yield self.samples[start : start + step].astype("<i2").tobytes()

    def padded(self, before: float = 0.0, after: float = 0.0) -> SpeechSample:
        """Add silence around the audio (recognizers and VADs need a little at the edges)."""
        pre = np.zeros(round(before * self.rate), dtype=np.int16)
        post = np.zeros(round(after * self.rate), dtype=np.int16)
        return SpeechSample(np.concatenate([pre, self.samples, post]), self.rate)

    def write(self, path: str | os.PathLike[str]) -> Path:
        with wave.open(os.fspath(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            w.writeframes(self.pcm())
        return Path(path)


# --------------------------------------------------------------------------- espeak-ng


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def require_espeak() -> None:
    """Skip the calling test when espeak-ng is not installed."""
    if not espeak_available():
        import pytest

        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")


def espeak_wav(
    text: str,
    path: str | os.PathLike[str],
    *,
    rate: int = 16000,
    voice: str = "en-us",
    speed: int = 175,
    pad: float = 0.0,
) -> Path:
    """Synthesise ``text`` to a mono s16 WAV at ``rate`` Hz and return its path.

    espeak-ng always writes 22050 Hz; we resample with PyAV rather than sox so the only
    external program needed is espeak-ng itself. ``speed`` is words per minute
    (175 is espeak's own default). ``pad`` adds that many seconds of silence at both ends.

    Synthetic speech is a poor accuracy yardstick: with Vosk's small English model the
    WER of :data:`ESPEAK_SENTENCES` swung between 14% and 40% across voices (en-us,
    en-us+m3, en-us+f3, en), speeds (130-175 wpm) and padding, with 175 wpm doing best,
    and a borderline word can decode differently on repeated runs. Use it to check that
    text comes through in order; measure accuracy on :func:`pocketsphinx_corpus`.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        # "--" so a sentence starting with "-" is not taken for an option.
        subprocess.run(
            [exe, "-v", voice, "-s", str(speed), "-w", str(raw), "--", text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        sample = SpeechSample.read(raw)
    sample = sample.to(rate)
    if pad:
        sample = sample.padded(pad, pad)
    return sample.write(out)


def espeak_wav_48k(
    text: str,
    path: str | os.PathLike[str],
    *,
    voice: str = "en-us",
    speed: int = 175,
    pad: float = 0.0,
) -> Path:
    """:func:`espeak_wav` at 48 kHz: what WebRTC (Opus) carries and browsers capture."""
    return espeak_wav(text, path, rate=48000, voice=voice, speed=speed, pad=pad)


# --------------------------------------------------------------------------- pocketsphinx


@dataclass(frozen=True)
class Utterance:
    """One recording with its reference transcript.

    ``id`` is unique within the corpus; ``set`` groups recordings by origin (the kind
    of speech differs a lot: read prose vs. isolated digits vs. short commands).
    """

    id: str
    path: Path
    transcript: str
    set: str


_TRANSCRIPTION_LINE = re.compile(
    r"^\s*(?:<s>)?\s*(?P<text>.*?)\s*(?:</s>)?\s*\((?P<id>[^)]+)\)\s*$"
)

# Headerless 16 kHz s16le recordings whose transcripts are not in a transcription file in
# the package. Their references are the hypotheses pocketsphinx's own test suite asserts
# for them (goforward.raw is also the `<move>` sentence of goforward.gram in the package;
# dhd.2934z.raw follows the TIDIGITS naming, z = zero). numbers.raw and something.raw
# have no published transcript, so they are left out rather than guessed.
_RAW_UTTERANCES: tuple[tuple[str, str, str], ...] = (
    ("goforward.raw", "go forward ten meters", "commands"),
    ("tidigits/dhd.2934z.raw", "two nine three four zero", "digits"),
)


def _parse_transcription(path: Path) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _TRANSCRIPTION_LINE.match(line):
            result[m["id"]] = " ".join(m["text"].split())
    return result


def pocketsphinx_corpus(
    data_dir: Path | None = None, cache_dir: Path | None = None
) -> list[Utterance]:
    """The human recordings with transcripts from ``pocketsphinx-testdata``, as WAV files.

    Returns ``[]`` if the package is not installed. All recordings are 16 kHz mono s16;
    headerless ``.raw`` files are converted once to WAV under ``cache_dir`` (default
    :func:`support_cache_dir`). Contents (Debian 12 package):

    * ``librivox``: 5 sentences of read prose (Sense and Sensibility, LibriVox, one
      male reader), 3.0-7.1 s, 71 words;
    * ``cards``: 5 short phrases naming playing cards, 1.1-3.5 s, 21 words;
    * ``commands``: "go forward ten meters", 2.8 s, 4 words;
    * ``digits``: a TIDIGITS digit string, 2.4 s, 5 words.

    12 utterances, 39.6 s, 101 reference words in all.

    The ``.mfc`` files (cepstra, no audio) are not usable and are ignored.
    """
    root = data_dir or POCKETSPHINX_DATA
    if not root.is_dir():
        return []
    utterances: list[Utterance] = []
    for set_name, transcription in (
        ("librivox", "librivox/transcription"),
        ("cards", "cards/cards.transcription"),
    ):
        tfile = root / transcription
        if not tfile.is_file():
            continue
        for uid, text in sorted(_parse_transcription(tfile).items()):
            wav = tfile.parent / f"{uid}.wav"
            if wav.is_file():
                utterances.append(Utterance(f"{set_name}/{uid}", wav, text, set_name))

    cache: Path | None = None
    for rel, text, set_name in _RAW_UTTERANCES:
        raw = root / rel
        if not raw.is_file():
            continue
        cache = cache or (cache_dir or support_cache_dir()) / "pocketsphinx"
        cache.mkdir(parents=True, exist_ok=True)
        data = raw.read_bytes()
        # Keyed by content so an updated package never reuses a stale conversion.
        digest = hashlib.sha256(data).hexdigest()[:12]
        wav = cache / f"{Path(rel).stem}-{digest}.wav"
        if not wav.is_file():
            tmp = wav.with_suffix(f".{os.getpid()}.tmp")
            SpeechSample.read_raw(raw).write(tmp)
            os.replace(tmp, wav)
        utterances.append(Utterance(f"{set_name}/{Path(rel).stem}", wav, text, set_name))
    return utterances


def require_pocketsphinx_corpus() -> list[Utterance]:
    """:func:`pocketsphinx_corpus`, skipping the calling test when it is not installed."""
    corpus = pocketsphinx_corpus()
    if not corpus:
        import pytest

        pytest.skip(
            "pocketsphinx-testdata is not installed (apt-get install pocketsphinx-testdata)"
        )
    return corpus
