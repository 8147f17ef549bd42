"""One-on-one calls through the page: mouth-to-ear latency, gateway CPU, TURN relay-only.

    VOSK_MODEL=/path/to/model python bench/call_latency.py [--calls 3] [--cpu-seconds 30]
        [--out bench/results/call_latency.json]

Two Chromium pages (Debian chromium via Playwright, fake microphones) hold a call through a
gateway started as its own process (``python -m gateway``), exactly as users would.

* latency (direct, and relay-only through coturn): each caller's microphone is a train of
  80 ms 1 kHz tone bursts. Each page watches its own microphone and the audio it receives
  from the other with a ScriptProcessor (256 samples) and notes when each burst starts
  (``performance.timeOrigin + now``: both pages share this machine's clock). Latency is
  received onset minus sent onset, both directions: capture -> Opus -> RTP over loopback ->
  jitter buffer -> decode -> WebAudio. It leaves out the two device latencies a real
  microphone and speaker add (typically 10-40 ms each). Also reported: the connection's own
  view from getStats (round-trip time, jitter buffer delay) and the time to connect.
* gateway CPU: both callers talk all the time (Debian's pocketsphinx-testdata recordings in a
  loop, the worst case for recognition), against a gateway in this process (insights on):
  CPU seconds per second of audio its recognisers consumed, for one caller alone and for a
  call, and so the cores a call needs in real time. (A gateway starved by other load falls
  behind; per second of recognised audio the cost stays meaningful.) The call's own audio
  between the two never touches the gateway.
* forwarding estimate: what the rejected design would add at the gateway per forwarded
  stream (Opus encode with aiortc's encoder; the decode it already does for recognition).

Loopback, and a 2-core machine shared with other work: treat the numbers as indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.support import HEADLESS_FLAGS  # noqa: E402
from tests.support.speech import SpeechSample, pocketsphinx_corpus  # noqa: E402
from turn.coturn import CoturnProcess  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RATE = 48_000
TURN_SECRET = "bench-call-secret"

# Runs inside a page: note the start of every tone burst in its own microphone and in the
# audio received from each other person.
WATCH_JS = """
() => {
  const ctx = new AudioContext();
  window.__onsets = { local: [], remote: [] };
  function watch(stream, out) {
    const source = ctx.createMediaStreamSource(stream);
    const node = ctx.createScriptProcessor(256, 1, 1);
    let quiet = 0;
    node.onaudioprocess = (event) => {
      const now = performance.timeOrigin + performance.now();
      const data = event.inputBuffer.getChannelData(0);
      const rate = event.inputBuffer.sampleRate;
      for (let i = 0; i < data.length; i += 1) {
        const loud = Math.abs(data[i]) > 0.1;
        if (loud && quiet > 0.3 * rate) out.push(now - ((data.length - i) / rate) * 1000);
        quiet = loud ? 0 : quiet + 1;
      }
    };
    source.connect(node);
    node.connect(ctx.destination); // silent: the node writes no output
  }
  const streams = window.gateway.debug.streams();
  watch(streams.local, window.__onsets.local);
  for (const stream of Object.values(streams.remote)) watch(stream, window.__onsets.remote);
  return ctx.state;
}
"""


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def burst_wav(path: Path, *, first: float, every: float = 1.5, loop: float = 6.0) -> Path:
    t = np.arange(int(0.08 * RATE)) / RATE
    fade = np.clip(np.minimum(t, t[-1] - t) / 0.001, 0, 1)  # 1 ms ramps: no clicks
    burst = 0.5 * 32767 * np.sin(2 * np.pi * 1000 * t) * fade
    samples = np.zeros(int(loop * RATE), dtype=np.int16)
    at = first
    while at + 0.08 < loop:
        start = int(at * RATE)
        samples[start:start + len(burst)] = burst.astype(np.int16)
        at += every
    SpeechSample(samples, RATE).write(path)
    return path


def speech_wav(path: Path, offset: float) -> Path:
    """The pocketsphinx recordings back to back (0.8 s pauses), rotated by ``offset`` s."""
    corpus = pocketsphinx_corpus()
    if not corpus:
        raise SystemExit("pocketsphinx-testdata is not installed (apt-get install it)")
    gap = np.zeros(int(0.8 * RATE), dtype=np.int16)
    parts = []
    for utterance in corpus:
        parts += [SpeechSample.read(utterance.path).to(RATE).samples, gap]
    samples = np.roll(np.concatenate(parts), -int(offset * RATE))
    SpeechSample(samples, RATE).write(path)
    return path


class Gateway:
    """``python -m gateway`` as its own process on a free port."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> Gateway:
        cmd = [sys.executable, "-m", "gateway", "--port", "0", "--log-level", "warning",
               *self.args]
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=ROOT)
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode()
        match = re.search(r"(http://\S+?)/?$", line.strip())
        if not match:
            raise SystemExit(f"gateway did not start: {line!r}")
        self.url = match.group(1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        await self.proc.wait()

    def cpu(self) -> float:
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)


class Browsers:
    """Chromium instances, each with a WAV as its microphone."""

    def __init__(self) -> None:
        self.contexts: list[Any] = []
        self.profiles: list[Path] = []

    async def __aenter__(self) -> Browsers:
        from playwright.async_api import async_playwright

        self.manager = async_playwright()
        self.playwright = await self.manager.start()
        return self

    async def page(self, wav: Path) -> Any:
        profile = Path(tempfile.mkdtemp(prefix="bench-chromium-"))
        self.profiles.append(profile)
        context = await self.playwright.chromium.launch_persistent_context(
            user_data_dir=str(profile), executable_path=CHROMIUM, headless=False,
            args=[*HEADLESS_FLAGS, "--use-fake-device-for-media-stream",
                  "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required",
                  "--disable-features=WebRtcHideLocalIpsWithMdns",
                  f"--use-file-for-fake-audio-capture={wav}"],
            viewport={"width": 1280, "height": 800})
        self.contexts.append(context)
        return context.pages[0] if context.pages else await context.new_page()

    async def close_all(self) -> None:
        for context in self.contexts:
            await context.close()
        self.contexts.clear()
        for profile in self.profiles:
            shutil.rmtree(profile, ignore_errors=True)
        self.profiles.clear()

    async def __aexit__(self, *exc: object) -> None:
        await self.close_all()
        await self.manager.__aexit__(None, None, None)


async def join(page: Any, url: str, name: str, query: str = "") -> float:
    """Join; returns seconds from the click to being in the call (gateway connected)."""
    await page.goto(f"{url}/?name={name}{'&' + query if query else ''}")
    await page.wait_for_function("() => window.gateway && window.gateway.state === 'idle'")
    clicked = time.monotonic()
    await page.click("#call-button")
    await page.wait_for_function("() => window.gateway.state === 'connected'",
                                 timeout=30_000)
    return time.monotonic() - clicked


async def call(browsers: Browsers, url: str, wavs: tuple[Path, Path], relay: bool
               ) -> tuple[Any, Any, dict[str, Any]]:
    """Alex starts a call, Sam joins by its invite link; both directly connected."""
    query = "relay=1" if relay else ""
    alex, sam = await browsers.page(wavs[0]), await browsers.page(wavs[1])
    await join(alex, url, "Alex", query)
    href = await alex.locator("#invite-link").get_attribute("href")
    sam_joined = await join(sam, url, "Sam", href.split("?", 1)[1])
    ids = [await p.evaluate("window.gateway.sessionId") for p in (alex, sam)]
    for page, other in ((alex, ids[1]), (sam, ids[0])):
        await page.wait_for_function(
            "(id) => window.gateway.peers[id] && window.gateway.peers[id].state === 'connected'",
            arg=other, timeout=30_000)
    await asyncio.sleep(0.6)  # one stats poll for the selected pair
    sam_state = await sam.evaluate("window.gateway")
    peer = sam_state["peers"][ids[0]]
    facts = {
        "join_seconds": round(sam_joined, 3),
        # From Sam's direct link being created (her roster arrived) to it connecting: the
        # offer/answer through /ws, ICE and DTLS.
        "peer_connect_ms": peer["connectedAfterMs"],
        "candidate_pair": [peer["facts"].get("local"), peer["facts"].get("remote")],
        "gateway_pair_state": sam_state["peer"],
    }
    return alex, sam, facts


def match(sent: list[float], received: list[float]) -> list[float]:
    out = []
    for t in sent:
        later = [r - t for r in received if 0 <= r - t < 1000]
        if later:
            out.append(min(later))
    return out


async def latency_run(browsers: Browsers, url: str, folder: Path, relay: bool,
                      seconds: float) -> dict[str, Any]:
    wavs = (burst_wav(folder / "bursts-alex.wav", first=0.5),
            burst_wav(folder / "bursts-sam.wav", first=1.2))
    alex, sam, facts = await call(browsers, url, wavs, relay)
    for page in (alex, sam):
        state = await page.evaluate(WATCH_JS)
        assert state == "running", state
    await asyncio.sleep(seconds)
    onsets = [await p.evaluate("window.__onsets") for p in (alex, sam)]
    stats = []
    for page in (alex, sam):
        peer = next(iter((await page.evaluate("window.gateway"))["peers"].values()))
        stats.append(peer["facts"])
    await browsers.close_all()
    a_to_s = match(onsets[0]["local"], onsets[1]["remote"])
    s_to_a = match(onsets[1]["local"], onsets[0]["remote"])
    return {**facts, "latency_ms": [round(x, 1) for x in a_to_s + s_to_a],
            "bursts_sent": len(onsets[0]["local"]) + len(onsets[1]["local"]),
            "rtt_ms": [s.get("rttMs") for s in stats],
            "jitter_buffer_ms": [s.get("jitterBufferMs") for s in stats]}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for r in runs for x in r["latency_ms"]]
    connects = [r["peer_connect_ms"] for r in runs if r["peer_connect_ms"] is not None]
    return {
        "calls": len(runs),
        "latency_median_ms": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        "latency_samples": len(latencies),
        "bursts_sent": sum(r["bursts_sent"] for r in runs),
        "peer_connect_median_ms": statistics.median(connects) if connects else None,
        "join_median_s": round(statistics.median(r["join_seconds"] for r in runs), 3),
        "candidate_pairs": sorted({"/".join(map(str, r["candidate_pair"])) for r in runs}),
        "jitter_buffer_ms": sorted({j for r in runs for j in r["jitter_buffer_ms"] if j}),
        "runs": runs,
    }


class InProcessGateway:
    """The gateway in this process (insights on, as shipped), so the audio its recognisers
    actually consumed can be counted: on a loaded machine a starved gateway falls behind,
    and CPU per second of *recognised* audio is the cost that does not depend on that."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.url = ""

    async def __aenter__(self) -> InProcessGateway:
        from aiohttp import web

        from gateway.app import create_app
        from gateway.config import GatewayConfig

        self.app = create_app(GatewayConfig(), Path(self.model))
        self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    def recognised_seconds(self) -> float:
        """Audio handed to the recognisers so far, over the open sessions."""
        from gateway.http.keys import WEBRTC_KEY

        total = 0
        for session in self.app[WEBRTC_KEY].sessions.values():
            stream = session.stream
            if stream is not None:
                total += (stream.chunks_in - stream.dropped_chunks - stream.muted_chunks
                          - stream.queued)
        return total * 0.1  # 100 ms chunks


async def measure(gateway: InProcessGateway, seconds: float, streams: int) -> dict[str, Any]:
    cpu, audio, wall = time.process_time(), gateway.recognised_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu
    audio = gateway.recognised_seconds() - audio
    wall = time.monotonic() - wall
    return {"streams": streams, "cpu_per_wall_s": round(cpu / wall, 4),
            "recognised_audio_s": round(audio, 1), "wall_s": round(wall, 1),
            "realtime_per_stream": round(audio / wall / streams, 3),
            "cpu_per_stream_audio_s": round(cpu / audio, 4) if audio else None}


async def cpu_run(browsers: Browsers, folder: Path, model: str | None, seconds: float
                  ) -> dict[str, Any]:
    if not model:
        raise SystemExit("set VOSK_MODEL (or --model) for the CPU measurement")
    wavs = (speech_wav(folder / "speech-alex.wav", 0.0),
            speech_wav(folder / "speech-sam.wav", 23.0))
    out: dict[str, Any] = {}
    async with InProcessGateway(model) as gateway:
        cpu = time.process_time()
        await asyncio.sleep(5)
        out["idle_cpu_per_s"] = round((time.process_time() - cpu) / 5, 4)
        alone = await browsers.page(wavs[0])  # one caller: one recognition stream
        await join(alone, gateway.url, "Alex")
        await asyncio.sleep(3)
        out["one_caller"] = await measure(gateway, seconds, 1)
        await browsers.close_all()
        await asyncio.sleep(3)
        # A call: two callers who hear each other directly; two recognition streams.
        alex, sam, _ = await call(browsers, gateway.url, wavs, relay=False)
        await asyncio.sleep(3)
        out["call"] = await measure(gateway, seconds, 2)
        out["transcript_lines_seen"] = [len((await p.evaluate("window.gateway"))["finals"])
                                        for p in (alex, sam)]
        await browsers.close_all()
    per_stream = out["call"]["cpu_per_stream_audio_s"]
    if per_stream:
        # A one-on-one call runs two streams in real time.
        out["cpu_cores_per_call"] = round(2 * per_stream, 3)
    return out


def forwarding_estimate(seconds: float = 30.0) -> dict[str, Any]:
    """CPU per second of audio to re-encode one stream with aiortc's Opus encoder (what a
    forwarding gateway would add per forwarded direction, besides the decode it does)."""
    import av
    from aiortc.codecs.opus import OpusEncoder

    encoder = OpusEncoder()
    rng = np.random.default_rng(1)
    frames = int(seconds * 50)
    pcm = (rng.standard_normal((frames, 960 * 2)) * 3000).astype(np.int16)
    started = time.process_time()
    for i in range(frames):
        frame = av.AudioFrame.from_ndarray(pcm[i].reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = i * 960
        frame.time_base = fractions.Fraction(1, RATE)
        encoder.encode(frame)
    cpu = time.process_time() - started
    return {"opus_encode_cpu_per_stream_s": round(cpu / seconds, 4), "audio_seconds": seconds}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    folder = ROOT / "bench" / "results" / "call_latency"
    folder.mkdir(parents=True, exist_ok=True)
    model = args.model or os.environ.get("VOSK_MODEL")
    base = ["--model", model] if model else []
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(),
                                          "python": platform.python_version(),
                                          "load_average": os.getloadavg()}}
    wanted = set(args.only or ("direct", "relay", "cpu", "forwarding"))
    async with Browsers() as browsers:
        if "direct" in wanted:
            async with Gateway([*base, "--no-insights"]) as gateway:
                runs = [await latency_run(browsers, gateway.url, folder, False, args.listen)
                        for _ in range(args.calls)]
            result["direct"] = summarize(runs)
            show("direct", result["direct"])
        if "relay" in wanted:
            coturn = CoturnProcess(secret=TURN_SECRET, realm="bench.test", dev=True)
            await coturn.start()
            try:
                turn = ["--turn-url", coturn.url, "--turn-secret", TURN_SECRET]
                async with Gateway([*base, "--no-insights", *turn]) as gateway:
                    runs = [await latency_run(browsers, gateway.url, folder, True, args.listen)
                            for _ in range(args.calls)]
            finally:
                coturn.stop()
            result["relay_only"] = summarize(runs)
            show("relay-only", result["relay_only"])
        if "cpu" in wanted:
            result["gateway_cpu"] = await cpu_run(browsers, folder, model, args.cpu_seconds)
            show("gateway CPU", result["gateway_cpu"])
    if "forwarding" in wanted:
        result["forwarding_estimate"] = forwarding_estimate()
        show("forwarding estimate", result["forwarding_estimate"])
    result["machine"]["load_average_after"] = os.getloadavg()
    return result


def show(name: str, summary: dict[str, Any]) -> None:
    print(f"{name}:", json.dumps({k: v for k, v in summary.items() if k != "runs"}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3, help="calls per latency scenario")
    parser.add_argument("--listen", type=float, default=15.0,
                        help="seconds of tone bursts measured per call")
    parser.add_argument("--cpu-seconds", type=float, default=30.0,
                        help="measurement window for gateway CPU")
    parser.add_argument("--model", default=None, help="Vosk model (default: $VOSK_MODEL)")
    parser.add_argument("--only", nargs="+", choices=("direct", "relay", "cpu", "forwarding"),
                        help="run only these parts")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "call_latency.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
