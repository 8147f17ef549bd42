"""G.711 mu-law (PCMU) encoding and decoding, vectorised with numpy.

Telephony speaks mu-law at 8 kHz: Symbl clients stream ``MULAW`` from phone bridges, and
Twilio Media Streams carry it base64-encoded. ``audioop`` did this once but is deprecated
(removed in Python 3.13), so the ITU-T G.711 tables are computed here once, at import.
"""

from __future__ import annotations

import numpy as np

BIAS = 0x84
CLIP14 = 8159
SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


def _decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa << 3) + BIAS) << exponent
    values = np.where(sign != 0, BIAS - magnitude, magnitude - BIAS)
    return values.astype(np.int16)


def _encode_table() -> np.ndarray:
    """Mu-law byte for every int16 value (64 K entries: a lookup beats the arithmetic).

    As the reference coder does it (and ``audioop`` did): on the 14-bit value, so that
    negative samples round the same way as every other implementation.
    """
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), CLIP14) + (BIAS >> 2)
    segment = np.searchsorted(SEGMENT_ENDS, magnitude)  # first end >= magnitude
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


_DECODE = _decode_table()
_ENCODE = _encode_table()


def ulaw_decode(data: bytes) -> bytes:
    """Mu-law bytes to s16le PCM (two bytes out per byte in)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return _DECODE[codes].astype("<i2").tobytes()


def ulaw_encode(pcm: bytes) -> bytes:
    """s16le PCM to mu-law bytes; a trailing odd byte is ignored."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
    return _ENCODE[samples.astype(np.int32) + 32768].tobytes()
