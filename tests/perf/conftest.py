"""Audio for the end-to-end tests of issue 10: a turn of three sentences, 0.3 s apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.speech import SpeechSample, require_espeak
from tests.support.vad_audio import RATE, espeak_units, join_units

TURN = (
    "what is the price of the new plan",
    "please call the customer tomorrow morning",
    "the weather was lovely this morning",
)
"""A question, an action item and a statement: what a user says in one breath. The small
model recognises these from espeak's voice (minor word errors the insight rules tolerate)."""


@pytest.fixture(scope="session")
def turn_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three sentences with exact 0.3 s pauses between them (shorter than Vosk's own
    0.5-1.0 s endpoint rules), 1 s of silence before and 1.5 s after."""
    require_espeak()
    clip = join_units("turn", espeak_units(TURN), 0.3, lead_s=1.0, tail_s=1.5)
    folder = tmp_path_factory.mktemp("turn")
    return SpeechSample(clip.samples, RATE).write(folder / "turn.wav")
