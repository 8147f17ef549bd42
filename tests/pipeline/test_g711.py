"""G.711 mu-law against the reference coder's behaviour (``audioop`` while it exists)."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest

from gateway.pipeline.g711 import ulaw_decode, ulaw_encode

ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2").tobytes()


def _audioop() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            pytest.skip("audioop is gone from this Python (3.13+)")
    return audioop


def test_encode_matches_the_reference_for_every_sample() -> None:
    assert ulaw_encode(ALL_SAMPLES) == _audioop().lin2ulaw(ALL_SAMPLES, 2)


def test_decode_matches_the_reference_for_every_code() -> None:
    codes = bytes(range(256))
    assert ulaw_decode(codes) == _audioop().ulaw2lin(codes, 2)


def test_round_trip_error_is_within_the_segment_step() -> None:
    samples = np.frombuffer(ALL_SAMPLES, dtype="<i2").astype(np.int32)
    back = np.frombuffer(ulaw_decode(ulaw_encode(ALL_SAMPLES)), dtype="<i2").astype(np.int32)
    error = np.abs(back - samples)
    # The largest mu-law step is 1024 (top segment); quiet samples come back nearly exact.
    assert error.max() <= 1024 + 132
    assert error[np.abs(samples) < 100].max() <= 8
    assert ulaw_decode(b"\xff\x7f") == np.array([0, 0], dtype="<i2").tobytes()


def test_odd_trailing_byte_is_ignored() -> None:
    assert len(ulaw_encode(b"\x00\x10\x00")) == 1
