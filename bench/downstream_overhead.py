"""What relaying a stream downstream costs: CPU per stream-second and bytes on the wire.

For every downstream protocol (and its variants: wire rate, mixed conversations), real
speech (pocketsphinx-testdata, looped to ``--seconds``) goes through the protocol object in
100 ms chunks, as the connection manager will feed it. Measured:

* CPU: process time spent in ``opening``/``audio``/``closing`` (conversion, resampling,
  mu-law, base64, JSON, framing; for conversation streams the mixer too), per second of
  stream; the minimum of ``--repeats`` runs (the least disturbed by other load);
* wire: frames and bytes per second, payload and with WebSocket framing (client frames carry
  a 2-10 byte header and a 4 byte mask; TCP/IP headers not counted).

With ``--model`` it also measures remote recognition: the gateway process's CPU per
stream-second when a vosk-server in another process recognises (lock-step frames, replies
parsed, words mapped), against in-process Vosk on the same audio.

Usage::

    python bench/downstream_overhead.py [--seconds 60] [--repeats 3] [--model DIR]

Results go to ``bench/results/downstream_overhead-<time>.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from gateway.pipeline.pcm import PcmChunk  # noqa: E402
from gateway.protocols.downstream import (  # noqa: E402
    AudioChunk,
    ConversationMixer,
    ProtocolBase,
    StreamInfo,
    make_protocol,
)
from gateway.transcript import Speaker  # noqa: E402
from tests.support.speech import SpeechSample, pocketsphinx_corpus  # noqa: E402

CHUNK = 1600  # 100 ms at 16 kHz
INFO = StreamInfo("bench-conversation", "p1", speaker=Speaker(user_id="u1", name="Ann"))

VARIANTS: list[tuple[str, str, dict[str, Any], int]] = [
    # label, protocol, options, participants (2: a conversation stream through the mixer)
    ("symbl LINEAR16 16k", "symbl", {}, 1),
    ("vosk PCM16 16k", "vosk", {}, 1),
    ("twilio mu-law 8k", "twilio", {}, 1),
    ("twilio both tracks", "twilio", {"tracks": "both"}, 2),
    ("jambonz mono 8k", "jambonz", {"sample_rate": 8000}, 1),
    ("jambonz mono 16k", "jambonz", {}, 1),
    ("jambonz mixed 16k", "jambonz", {"mix_type": "mixed"}, 2),
    ("jambonz stereo 16k", "jambonz", {"mix_type": "stereo"}, 2),
]


def speech(seconds: float) -> np.ndarray:
    corpus = pocketsphinx_corpus()
    if not corpus:
        sys.exit("pocketsphinx-testdata is not installed (apt-get install pocketsphinx-testdata)")
    audio = np.concatenate([SpeechSample.read(u.path).to(16000).samples for u in corpus])
    reps = int(np.ceil(seconds * 16000 / len(audio)))
    return np.tile(audio, reps)[: int(seconds * 16000)]


def ws_overhead(size: int) -> int:
    """RFC 6455 client frame header: 2 bytes, +2 or +8 for the length, +4 for the mask."""
    return 2 + (0 if size < 126 else 2 if size < 65536 else 8) + 4


def run_variant(protocol_name: str, options: dict[str, Any], participants: int,
                audio: list[np.ndarray]) -> dict[str, float]:
    opts = dict(options)
    rate = opts.pop("sample_rate", None)
    info = StreamInfo(INFO.conversation_id, None if participants > 1 else "p1",
                      speaker=INFO.speaker, sample_rate=rate)
    protocol: ProtocolBase = make_protocol(protocol_name, info, **opts)
    feed: Callable[[int], list[AudioChunk]]
    if participants > 1:
        mixer = ConversationMixer(channels=protocol.channels)
        for p in range(participants):
            mixer.add(f"p{p}", 0.0)

        def feed(i: int) -> list[AudioChunk]:
            out: list[AudioChunk] = []
            for p, samples in enumerate(audio):
                out += mixer.push(f"p{p}", PcmChunk(samples[i: i + CHUNK].tobytes(), i))
            return out
    else:
        def feed(i: int) -> list[AudioChunk]:
            return [PcmChunk(audio[0][i: i + CHUNK].tobytes(), i)]

    frames: list[str | bytes] = []
    started = time.process_time()
    frames += protocol.opening()
    for i in range(0, len(audio[0]), CHUNK):
        for chunk in feed(i):
            frames += protocol.audio(chunk)
    frames += protocol.closing()
    cpu = time.process_time() - started
    seconds = len(audio[0]) / 16000
    payload = sum(len(f.encode() if isinstance(f, str) else f) for f in frames)
    wire = payload + sum(ws_overhead(len(f)) for f in frames)
    return {"cpu_per_stream_s": cpu / seconds, "frames_per_s": len(frames) / seconds,
            "payload_bytes_per_s": payload / seconds, "wire_bytes_per_s": wire / seconds}


async def remote_cost(model: str, audio: np.ndarray) -> dict[str, float]:
    """The gateway side of remote recognition, with the server in another process."""
    from gateway.asr.remote import RemoteVoskRecognizer

    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.vosk_server", "--model", model,
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        assert server.stdout is not None
        port = int((await server.stdout.readline()).split()[1])
        pool = RemoteVoskRecognizer([f"ws://127.0.0.1:{port}"])
        stream = await pool.open_stream(Speaker(name="bench"))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        finals = 0
        for i in range(0, len(audio), CHUNK):
            finals += sum(1 for e in await stream.accept(PcmChunk(audio[i: i + CHUNK].tobytes(),
                                                                   i)) if hasattr(e, "phrase"))
        await stream.endpoint()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await stream.close()
        await pool.aclose()
    finally:
        server.terminate()
        await server.wait()
    seconds = len(audio) / 16000
    return {"gateway_cpu_per_stream_s": cpu / seconds, "wall_per_stream_s": wall / seconds,
            "finals": finals}


def local_cost(model: str, audio: np.ndarray) -> float:
    import vosk

    vosk.SetLogLevel(-1)
    rec = vosk.KaldiRecognizer(vosk.Model(model), 16000)
    rec.SetWords(True)
    started = time.process_time()
    for i in range(0, len(audio), CHUNK):
        if not rec.AcceptWaveform(audio[i: i + CHUNK].tobytes()):
            rec.PartialResult()
    rec.FinalResult()
    return (time.process_time() - started) / (len(audio) / 16000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL"),
                        help="Vosk model dir: also measure remote recognition")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    base = speech(args.seconds)
    other = np.roll(base, len(base) // 3)  # a second participant, different speech
    print(f"{'variant':24} {'cpu ms/s':>9} {'frames/s':>9} {'payload B/s':>12} {'wire B/s':>10}")
    rows: dict[str, dict[str, float]] = {}
    for label, name, options, participants in VARIANTS:
        audio = [base, other][:participants]
        runs = [run_variant(name, options, participants, audio) for _ in range(args.repeats)]
        row = min(runs, key=lambda r: r["cpu_per_stream_s"])
        rows[label] = row
        print(f"{label:24} {row['cpu_per_stream_s'] * 1000:9.2f} {row['frames_per_s']:9.1f} "
              f"{row['payload_bytes_per_s']:12.0f} {row['wire_bytes_per_s']:10.0f}")

    recognition: dict[str, Any] | None = None
    if args.model:
        remote = asyncio.run(remote_cost(args.model, base))
        local = local_cost(args.model, base)
        recognition = {"remote": remote, "local_cpu_per_stream_s": local}
        print(f"\nrecognition, gateway process CPU per stream-second: local Vosk {local:.3f}, "
              f"remote {remote['gateway_cpu_per_stream_s']:.4f} "
              f"(wall {remote['wall_per_stream_s']:.3f} s per s, lock-step over loopback)")

    out = args.out or REPO_ROOT / "bench" / "results" / (
        "downstream_overhead-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "downstream_overhead",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "seconds": args.seconds, "chunk_ms": 100, "repeats": args.repeats,
        "protocols": rows, "recognition": recognition,
    }, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
