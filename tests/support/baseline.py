"""The accuracy baseline: Vosk straight on a WAV file, no WebRTC, no gateway."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import vosk


def direct_transcript(model: vosk.Model, wav_path: Path) -> str:
    """What the recognizer hears from the file itself; the gateway is compared against it."""
    with wave.open(str(wav_path), "rb") as w:
        rec = vosk.KaldiRecognizer(model, w.getframerate())
        texts = []
        while data := w.readframes(3200):
            if rec.AcceptWaveform(data):
                texts.append(json.loads(rec.Result())["text"])
        texts.append(json.loads(rec.FinalResult())["text"])
    return " ".join(t for t in texts if t)
