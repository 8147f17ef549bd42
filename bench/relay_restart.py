"""The audio relay, measured through the real connection manager (gateway/relays/link.py).

1. **Restart**: a stream paced in real time to jambonz and Twilio receivers on loopback;
   both are killed and restarted, once within the replay buffer, once beyond it. Audio
   missing at the receivers (found sample for sample for jambonz, by media timestamps for
   Twilio), audio sent twice, audio reported lost, and how long after the restart the
   stream was back.
2. **Overhead**: N streams per protocol pushed as fast as the links take them to a server in
   another process that reads and discards: the sending process's CPU per stream-second
   (protocol, links, aiohttp, pings) and frames and bytes on the wire per stream-second.
3. **WER**: every pocketsphinx-testdata recording through the gateway's local Vosk
   recogniser and through ``RemoteVoskRecognizer`` on two vosk-server processes, same
   100 ms chunks; word error rate and the gateway process's CPU per audio second.

Usage::

    python bench/relay_restart.py --model DIR [--streams 4] [--seconds 30] [--skip wer]

Results: a summary on stdout and ``bench/results/relay_restart-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402

from gateway.asr.base import Final  # noqa: E402
from gateway.asr.remote import RemoteVoskRecognizer  # noqa: E402
from gateway.asr.vosk import VoskRecognizer, load_model  # noqa: E402
from gateway.protocols.downstream import ConversationMixer  # noqa: E402
from gateway.relays.link import DownstreamLink  # noqa: E402
from gateway.relays.report import Reporter  # noqa: E402
from gateway.relays.settings import LinkSettings  # noqa: E402
from gateway.relays.targets import Target  # noqa: E402
from gateway.transcript import Speaker  # noqa: E402
from gateway.workers import WorkerPool  # noqa: E402
from tests.relays.support import coverage  # noqa: E402
from tests.support.receivers import JambonzReceiver, TwilioReceiver, pcm_chunks  # noqa: E402
from tests.support.speech import SpeechSample, pocketsphinx_corpus  # noqa: E402
from tests.support.wer import WerStats  # noqa: E402

VARIANTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("symbl LINEAR16 16k", "symbl", {}, 1),
    ("vosk PCM16 16k", "vosk", {}, 1),
    ("twilio mu-law 8k", "twilio", {}, 1),
    ("twilio both tracks", "twilio", {"tracks": "both"}, 2),
    ("jambonz mono 16k", "jambonz", {}, 1),
    ("jambonz mono 8k", "jambonz", {"sampleRate": 8000}, 1),
    ("jambonz stereo 16k", "jambonz", {"mixType": "stereo"}, 2),
]


def speech(seconds: float) -> np.ndarray:
    corpus = pocketsphinx_corpus()
    if not corpus:
        sys.exit("pocketsphinx-testdata is not installed (apt-get install pocketsphinx-testdata)")
    audio = np.concatenate([SpeechSample.read(u.path).to(16000).samples for u in corpus])
    return np.tile(audio, int(np.ceil(seconds * 16000 / len(audio))))[: int(seconds * 16000)]


def link_to(session: aiohttp.ClientSession, url: str, protocol: str, options: dict[str, Any],
            settings: LinkSettings, participant: str | None = "p1") -> DownstreamLink:
    target = Target(protocol, protocol, url, options)
    info = target.stream_info("bench", participant_id=participant,
                              speaker=Speaker(name="Ann", id=participant))
    return DownstreamLink(target.build(info), target.url_for(info), session=lambda: session,
                          reporter=Reporter(lambda m: None, reply_rate=50), settings=settings)


# -- 1. restart ---------------------------------------------------------------------------

async def restart(outage: float, buffer: float, *, before: float = 4.0,
                  after: float = 8.0) -> dict[str, Any]:
    samples = speech(before + outage + after)
    settings = LinkSettings(buffer_seconds=buffer)
    async with aiohttp.ClientSession() as session, JambonzReceiver() as jb, \
            TwilioReceiver() as tw:
        links = {"jambonz": link_to(session, jb.url, "jambonz", {}, settings),
                 "twilio": link_to(session, tw.url, "twilio", {}, settings)}
        started = time.monotonic()
        restarted_at: float | None = None
        back: dict[str, float] = {}
        for i, chunk in enumerate(pcm_chunks(samples)):
            for link in links.values():
                link.send_audio(chunk)
            due = started + (i + 1) * 0.1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if i == int(before * 10):
                await jb.kill()
                await tw.kill()
            elif i == int((before + outage) * 10):
                await jb.start()
                await tw.start()
                restarted_at = time.monotonic()
            for name, link in links.items():
                if restarted_at and name not in back and link.connections >= 2:
                    back[name] = time.monotonic() - restarted_at
        for link in links.values():
            await link.drain(15)
            await link.close()
        await asyncio.sleep(0.5)
        result: dict[str, Any] = {"outage_s": outage, "buffer_s": buffer}
        covered, twice = coverage(samples, [jb.audio(c)[:, 0] for c in jb.connections])
        ms = np.zeros(len(samples) // 16, bool)
        for conn in tw.connections:
            for stamp, _ in conn.state.get("media", {}).get("inbound", []):
                ms[stamp: stamp + 20] = True
        for name, missing, dup in (("jambonz", (~covered).sum() / 16000, twice / 16000),
                                   ("twilio", (~ms).sum() / 1000, None)):
            link = links[name]
            result[name] = {"missing_s": round(float(missing), 3),
                            "duplicated_s": None if dup is None else round(dup, 3),
                            "reported_lost_s": round(link.lost, 3),
                            "of_which_unconfirmed_s": round(link.buffer.unconfirmed_cost, 3),
                            "back_after_restart_s": round(back.get(name, float("nan")), 2),
                            "connections": link.connections}
    return result


# -- 2. overhead --------------------------------------------------------------------------

SINK_SERVER = """
import sys
from aiohttp import web
async def sink(request):
    ws = web.WebSocketResponse(protocols=("audio.jambonz.org",), max_msg_size=0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == web.WSMsgType.TEXT and ('"eof"' in msg.data or "stop_request" in msg.data):
            await ws.send_str('{"text": ""}')
            break
    await ws.close()
    return ws
app = web.Application()
app.router.add_get("/{tail:.*}", sink)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


async def overhead(streams: int, seconds: float) -> list[dict[str, Any]]:
    port = free_port()
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", SINK_SERVER, str(port))
    try:
        await wait_port(port)
        audio = speech(seconds)
        chunks = pcm_chunks(audio)
        rows = []
        settings = LinkSettings()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            for label, protocol, options, parties in VARIANTS:
                links = [link_to(session, f"ws://127.0.0.1:{port}/s{n}", protocol, options,
                                 settings, None if parties > 1 else f"p{n}")
                         for n in range(streams)]
                cpu, wall = time.process_time(), time.monotonic()
                await asyncio.gather(*(feed(link, chunks, parties) for link in links))
                cpu, wall = time.process_time() - cpu, time.monotonic() - wall
                stream_seconds = streams * seconds
                rows.append({
                    "variant": label, "streams": streams,
                    "cpu_ms_per_stream_s": round(1000 * cpu / stream_seconds, 3),
                    "frames_per_s": round(sum(lk.frames_sent for lk in links) / stream_seconds, 1),
                    "payload_B_per_s": round(sum(lk.bytes_sent for lk in links) / stream_seconds),
                    "wire_B_per_s": round(sum(lk.wire_bytes for lk in links) / stream_seconds),
                    "x_realtime": round(stream_seconds / wall, 1),
                    "lost_s": sum(lk.lost for lk in links)})
        return rows
    finally:
        server.terminate()
        await server.wait()


async def feed(link: DownstreamLink, chunks: list[Any], parties: int) -> None:
    mixer = ConversationMixer(channels=link.protocol.channels) if parties > 1 else None
    if mixer is not None:
        for n in range(parties):
            mixer.add(f"p{n}", 0.0)
    for chunk in chunks:
        if mixer is None:
            link.send_audio(chunk)
        else:
            for n in range(parties):
                for mixed in mixer.push(f"p{n}", chunk):
                    link.send_audio(mixed)
        if link.buffer.unsent_cost > 1.0:  # as fast as the link takes it, buffer bounded
            await link.buffer.wait(lambda: link.buffer.unsent_cost <= 0.2)
    if mixer is not None:
        for mixed in mixer.flush():
            link.send_audio(mixed)
    await link.drain(30)
    await link.close()


# -- 3. WER local vs remote ---------------------------------------------------------------

async def wer_local_remote(model: Path) -> dict[str, Any]:
    corpus = pocketsphinx_corpus()
    audio = [SpeechSample.read(u.path).to(16000).samples for u in corpus]
    seconds = sum(len(a) for a in audio) / 16000
    pool = WorkerPool(2, name="bench")
    ports = [free_port(), free_port()]
    servers = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.vosk_server", "--model", str(model), "--port",
        str(p), cwd=REPO_ROOT, stdout=asyncio.subprocess.DEVNULL) for p in ports]
    out: dict[str, Any] = {"recordings": len(corpus), "audio_s": round(seconds, 1)}
    try:
        local = VoskRecognizer(await load_model(model), pool)
        for port in ports:
            await wait_port(port)
        remote = RemoteVoskRecognizer([f"ws://127.0.0.1:{p}" for p in ports])
        for name, recognizer in (("local", local), ("remote", remote)):
            stats = WerStats()
            cpu = time.process_time()
            for utterance, samples in zip(corpus, audio, strict=True):
                stream = await recognizer.open_stream(Speaker(name="bench"))
                events = []
                for chunk in pcm_chunks(samples):
                    events += await stream.accept(chunk)
                events += await stream.endpoint()
                await stream.close()
                text = " ".join(e.phrase.text for e in events if isinstance(e, Final))
                stats.add(utterance.transcript, text)
            cpu = time.process_time() - cpu
            out[name] = {"wer": round(stats.wer, 4), "summary": stats.summary(),
                         "gateway_cpu_s_per_audio_s": round(cpu / seconds, 4)}
            await recognizer.aclose()
    finally:
        for server in servers:
            server.terminate()
            await server.wait()
        await pool.aclose()
    return out


# -- plumbing -----------------------------------------------------------------------------

def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port}")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "host": platform.node(),
                              "cpus": os.cpu_count(), "load": os.getloadavg()}
    if "restart" not in args.skip:
        result["restart"] = [await restart(3.0, 10.0), await restart(15.0, 10.0)]
        for r in result["restart"]:
            print(f"outage {r['outage_s']:.0f} s, buffer {r['buffer_s']:.0f} s: " + "; ".join(
                f"{p} missing {r[p]['missing_s']} s, reported {r[p]['reported_lost_s']} s, "
                f"back {r[p]['back_after_restart_s']} s after restart"
                for p in ("jambonz", "twilio")))
    if "overhead" not in args.skip:
        result["overhead"] = await overhead(args.streams, args.seconds)
        print(f"{'variant':<22}{'CPU ms/stream-s':>16}{'frames/s':>10}{'payload B/s':>13}"
              f"{'wire B/s':>10}")
        for row in result["overhead"]:
            print(f"{row['variant']:<22}{row['cpu_ms_per_stream_s']:>16}{row['frames_per_s']:>10}"
                  f"{row['payload_B_per_s']:>13}{row['wire_B_per_s']:>10}")
    if "wer" not in args.skip:
        if args.model is None:
            sys.exit("--model DIR (or VOSK_MODEL) is needed for the WER comparison")
        result["wer"] = await wer_local_remote(Path(args.model))
        for name in ("local", "remote"):
            w = result["wer"][name]
            print(f"WER {name}: {w['summary']}; gateway CPU {w['gateway_cpu_s_per_audio_s']} s/s")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL"))
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--skip", action="append", default=[],
                        choices=("restart", "overhead", "wer"))
    results = asyncio.run(main(parser.parse_args()))
    out = REPO_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"relay_restart-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {path.relative_to(REPO_ROOT)}")
