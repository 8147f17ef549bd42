"""Symbl audio decoders on real speech: exact sample counts, faithful signal, every odd cut.

The audio is a human recording from pocketsphinx-testdata, encoded by FFmpeg (PyAV) the way
clients produced it (tests/support/symbl_client.py), then decoded by the gateway's decoders
and compared with the original.
"""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time

import numpy as np
import pytest

from gateway.transports.symbl.codecs import (
    AudioDecodeError,
    AudioDecoder,
    UnsupportedAudio,
    make_decoder,
)
from gateway.transports.symbl.webm import MAX_OUTPUT_BYTES
from tests.support import symbl_client as client
from tests.support.speech import SpeechSample, require_pocketsphinx_corpus

Frames = list[client.Frame]


@pytest.fixture(scope="module")
def speech() -> SpeechSample:
    corpus = require_pocketsphinx_corpus()
    return SpeechSample.read(next(u for u in corpus if u.set == "librivox").path)


def decode(decoder: AudioDecoder, frames: Frames) -> np.ndarray:
    pcm = b"".join(decoder.push(payload) for payload, _ in frames) + decoder.close()
    assert len(pcm) % 2 == 0
    return np.frombuffer(pcm, "<i2")


def similarity(reference: np.ndarray, decoded: np.ndarray, max_lag: int = 480) -> float:
    """Peak normalised cross-correlation within ±30 ms (codecs may delay a little)."""
    n = min(len(reference), len(decoded)) - 2 * max_lag
    ref = reference[max_lag:max_lag + n].astype(np.float64)
    best = 0.0
    for lag in range(-max_lag, max_lag + 1, 4):
        seg = decoded[max_lag + lag:max_lag + lag + n].astype(np.float64)
        best = max(best, float(np.dot(ref, seg) / (np.linalg.norm(ref) * np.linalg.norm(seg))))
    return best


def random_cuts(data: bytes, seed: int, largest: int = 3000) -> Frames:
    rng = random.Random(seed)
    frames: Frames = []
    i = 0
    while i < len(data):
        n = rng.randint(1, largest)
        frames.append((data[i:i + n], 0.0))
        i += n
    return frames


def test_linear16_at_16k_is_bit_exact_whatever_the_cuts(speech: SpeechSample) -> None:
    pcm = speech.pcm()
    for frames in (random_cuts(pcm, 1), [(pcm[i:i + 1], 0.0) for i in range(0, 4001)]):
        out = decode(make_decoder("LINEAR16", 16000), frames)
        sent = b"".join(f for f, _ in frames)
        # An odd trailing byte is half a sample: held, never invented.
        assert np.array_equal(out, np.frombuffer(sent[:len(sent) // 2 * 2], "<i2"))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_linear16_any_rate_exact_count_and_faithful(speech: SpeechSample, rate: int) -> None:
    frames = client.linear16(speech, rate)
    sent = sum(len(f) for f, _ in frames) // 2
    out = decode(make_decoder("LINEAR16", rate), frames)
    assert abs(len(out) - sent * 16000 / rate) <= 1
    reference = speech.to(rate).to(16000).samples  # the band a rate can carry
    assert similarity(reference, out) > 0.99


def test_odd_byte_frames_give_the_same_audio(speech: SpeechSample) -> None:
    frames = client.linear16(speech, 44100)
    whole = decode(make_decoder("LINEAR16", 44100), frames)
    odd = decode(make_decoder("LINEAR16", 44100), random_cuts(b"".join(f for f, _ in frames), 7,
                                                              largest=7))
    assert np.array_equal(whole, odd)


def test_declared_rate_is_trusted_not_measured(speech: SpeechSample) -> None:
    # A browser whose AudioContext runs at 48 kHz but which declares 44100, as Symbl's
    # examples hard-code: slightly slow audio, never an error.
    frames = client.browser_linear16(speech, context_rate=48000)
    sent = sum(len(f) for f, _ in frames) // 2
    out = decode(make_decoder("LINEAR16", 44100), frames)
    assert abs(len(out) - sent * 16000 / 44100) <= 1


def test_wrapped_around_samples_are_bounded(speech: SpeechSample) -> None:
    # Symbl's snippet with a loud microphone: 32767 * x for x < -1 wraps in the Int16Array.
    frames = client.browser_linear16(speech, context_rate=48000, gain=2.5)
    raw = np.frombuffer(b"".join(f for f, _ in frames), "<i2")
    loud = speech.samples.astype(np.float64) * 2.5
    assert (loud < -32768).any() and (raw > 0).sum() > (loud > 0).sum()  # wraps did happen
    out = decode(make_decoder("LINEAR16", 48000), frames)
    assert abs(len(out) - len(raw) / 3) <= 1
    assert out.dtype == np.int16


def test_mulaw_telephony(speech: SpeechSample) -> None:
    frames = client.mulaw(speech)
    out = decode(make_decoder("MULAW", 8000), frames)
    assert len(out) == 2 * sum(len(f) for f, _ in frames)
    assert similarity(speech.to(8000).to(16000).samples, out) > 0.98


def expected_length(speech: SpeechSample) -> int:
    return round(speech.duration * 16000)


@pytest.mark.parametrize(("declared", "fmt"), [
    ("audio/webm;codecs=opus", "webm"), ("Opus", "webm"), ("OPUS", "ogg")])
def test_media_recorder_chunks_cut_anywhere(speech: SpeechSample, declared: str, fmt: str
                                            ) -> None:
    frames = client.media_recorder(speech, fmt, timeslice=0.25, seed=3)
    assert len(frames) >= 20 and frames[0][0][:4] in (b"\x1a\x45\xdf\xa3", b"OggS")
    out = decode(make_decoder(declared, 48000), frames)
    assert abs(len(out) - expected_length(speech)) <= 320  # within one 20 ms Opus frame
    assert similarity(speech.samples, out) > 0.9


def test_container_output_arrives_with_each_chunk(speech: SpeechSample) -> None:
    decoder = make_decoder("OPUS", 48000)
    frames = client.media_recorder(speech, timeslice=0.25, seed=5)
    sizes = [len(decoder.push(payload)) for payload, _ in frames]
    decoder.close()
    # Every chunk after the first two completes audio: nothing waits for the end of stream.
    assert all(size > 0 for size in sizes[2:-1])


def test_async_decode_matches_sync(speech: SpeechSample) -> None:
    frames = client.media_recorder(speech, timeslice=0.25, seed=9)

    async def run() -> bytes:
        decoder = make_decoder("audio/webm;codecs=opus", 48000)
        parts = [await decoder.decode(payload) for payload, _ in frames]
        return b"".join(parts) + await decoder.finish()

    assert asyncio.run(run()) == decode(make_decoder("OPUS", 48000), frames).tobytes()


def test_first_chunk_shorter_than_the_signature(speech: SpeechSample) -> None:
    data = b"".join(f for f, _ in client.media_recorder(speech))
    frames: Frames = [(data[:1], 0.0), (data[1:3], 0.0), (data[3:], 0.0)]
    assert abs(len(decode(make_decoder("OPUS", 48000), frames)) - expected_length(speech)) <= 320


def test_flac_is_lossless(speech: SpeechSample) -> None:
    data = client.container(speech, "flac", "flac", rate=16000)
    out = decode(make_decoder("FLAC", 16000), random_cuts(data, 2))
    assert np.array_equal(out, speech.samples)


def test_raw_opus_packets(speech: SpeechSample) -> None:
    out = decode(make_decoder("OPUS", 48000), client.raw_opus(speech))
    assert abs(len(out) - expected_length(speech)) <= 640
    assert similarity(speech.samples, out) > 0.9


@pytest.mark.parametrize(("encoding", "rate"), [
    ("MP3", 16000), ("SPEEX", 16000), ("", 16000), ("LINEAR16", 4000), ("LINEAR16", 96000),
    ("MULAW", 0), ("OPUS", 192000)])
def test_unsupported_declarations(encoding: str, rate: int) -> None:
    with pytest.raises(UnsupportedAudio):
        make_decoder(encoding, rate)


def test_garbage_opus_packet_is_a_clear_error() -> None:
    decoder = make_decoder("OPUS", 48000)
    with pytest.raises(AudioDecodeError):
        decoder.push(b"\xff" * 400)


def test_flac_without_header_is_a_clear_error() -> None:
    with pytest.raises(AudioDecodeError):
        make_decoder("FLAC", 16000).push(b"\x00" * 64)


def test_corrupt_container_never_hangs() -> None:
    rng = random.Random(0)
    decoder = make_decoder("OPUS", 48000)
    started = time.monotonic()
    produced = 0
    try:
        for _ in range(20):
            produced += len(decoder.push(b"\x1a\x45\xdf\xa3" + rng.randbytes(4000)))
    except AudioDecodeError:
        pass
    produced += len(decoder.close())
    assert time.monotonic() - started < 10
    assert produced <= 20 * 16000 * 2  # bounded, whatever FFmpeg made of it


def test_decompression_bomb_is_refused() -> None:
    # Two minutes of digital silence in FLAC are a few KiB; one push must not become minutes.
    silence = SpeechSample(np.zeros(120 * 16000, np.int16), 16000)
    data = client.container(silence, "flac", "flac", rate=16000)
    assert len(data) < 64 * 1024
    decoder = make_decoder("FLAC", 16000)
    first = decoder.push(data)  # what decoded before the cap is delivered...
    assert len(first) <= MAX_OUTPUT_BYTES < 120 * 16000 * 2
    with pytest.raises(AudioDecodeError):  # ...and the stream is refused from then on
        decoder.push(data[:100])
    decoder.close()


def _decoder_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("symbl-"))


def test_abandoned_decoders_do_not_leak_threads(speech: SpeechSample) -> None:
    before = _decoder_threads()
    data = b"".join(f for f, _ in client.media_recorder(speech))
    aborted = make_decoder("OPUS", 48000)
    aborted.push(data[:5000])
    aborted.abort()
    dropped = make_decoder("OPUS", 48000)
    dropped.push(data[:5000])
    del dropped
    gc.collect()
    deadline = time.monotonic() + 5
    while _decoder_threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _decoder_threads() == before
