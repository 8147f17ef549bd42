"""A microphone-like track that knows when each of its packets left.

The recording is Opus-encoded once, before the call, with aiortc's own encoder (the packets
are exactly what aiortc would send live), and the track hands aiortc the packets in real
time. Encoding live in each caller would cost a thread-pool hop per 20 ms frame: about half
of a caller's CPU, taken from the cores the server under test is measured on.

Before :meth:`ScriptTrack.go` the track sends silence (a caller connected and not yet
talking, so every caller can be connected before the measured part starts at one moment);
then the recording, one 20 ms packet per 20 ms; then nothing (the caller waits for its last
results with the microphone muted: no audio is sent that the CPU figures would have to
count). It keeps the moment every recording packet was handed to aiortc, so an utterance's
start and end are known on the caller's own clock even when the caller process ran late.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.codecs.opus import OpusEncoder

RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
FRAME_SECONDS = FRAME_SAMPLES / RATE
TIME_BASE = fractions.Fraction(1, RATE)
LEAD_FRAMES = 25  # 0.5 s of silence encoded before the recording, for the pre-roll


def opus_packets(samples: npt.NDArray[np.int16]) -> tuple[bytes, list[bytes]]:
    """(a silence packet, the recording's packets): mono s16 48 kHz encoded as aiortc does,
    one packet per 20 ms frame, the last frame padded with silence."""
    lead = np.zeros(LEAD_FRAMES * FRAME_SAMPLES, dtype=np.int16)
    audio = np.concatenate([lead, samples.astype(np.int16)])
    audio = np.concatenate([audio, np.zeros(-len(audio) % FRAME_SAMPLES, dtype=np.int16)])
    encoder = OpusEncoder()
    packets: list[bytes] = []
    for start in range(0, len(audio), FRAME_SAMPLES):
        frame = av.AudioFrame.from_ndarray(audio[start:start + FRAME_SAMPLES].reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = start
        frame.time_base = TIME_BASE
        payloads, _ = encoder.encode(frame)
        packets += payloads
    if len(packets) != len(audio) // FRAME_SAMPLES:
        raise RuntimeError("the Opus encoder did not give one packet per frame")
    return packets[LEAD_FRAMES - 1], packets[LEAD_FRAMES:]


class ScriptTrack(MediaStreamTrack):
    """Silence until :meth:`go`, then the recording's packets in real time, then mute."""

    kind = "audio"

    def __init__(self, silence: bytes, packets: list[bytes]) -> None:
        super().__init__()
        self._silence = silence
        self._packets = packets
        self._clock: float | None = None  # monotonic time of packet 0 (pre-roll included)
        self._sent = 0  # packets handed out, pre-roll included
        self._go = False
        self._first: int | None = None  # packet number where the recording starts
        #: monotonic time each recording packet was handed out, in order
        self.emitted: list[float] = []
        #: how late each recording packet was against its real-time schedule (seconds)
        self.lateness: list[float] = []
        self.finished = asyncio.Event()  # the last recording packet left
        self._mute = asyncio.Event()  # never set: recv() after the end waits to be cancelled

    @property
    def duration(self) -> float:
        return len(self._packets) * FRAME_SECONDS

    @property
    def t0(self) -> float:
        """Monotonic time the first recording packet left (the script's time zero)."""
        if not self.emitted:
            raise RuntimeError("the recording has not started")
        return self.emitted[0]

    def go(self) -> None:
        """Start the recording at the next packet."""
        self._go = True

    def sent_at(self, seconds: float) -> float:
        """Monotonic time the sample ``seconds`` into the recording left (packet time plus
        the offset inside the packet); times past the last packet extrapolate in real time."""
        if not self.emitted:
            raise RuntimeError("the recording has not started")
        index = min(int(seconds / FRAME_SECONDS), len(self.emitted) - 1)
        return self.emitted[index] + (seconds - index * FRAME_SECONDS)

    async def recv(self) -> av.Packet:
        if self._clock is None:
            self._clock = time.monotonic()
        number = self._sent
        if self._first is not None and number - self._first >= len(self._packets):
            self.finished.set()
            await self._mute.wait()
        due = self._clock + number * FRAME_SECONDS
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self._first is None and self._go:
            self._first = number
        if self._first is None:
            payload = self._silence
        else:
            payload = self._packets[number - self._first]
            now = time.monotonic()
            self.emitted.append(now)
            self.lateness.append(max(0.0, now - due))
        packet = av.Packet(payload)
        packet.pts = number * FRAME_SAMPLES
        packet.time_base = TIME_BASE
        self._sent += 1
        return packet
