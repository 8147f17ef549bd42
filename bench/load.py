"""Load benchmark: N concurrent WebRTC callers, each its own process, real speech in real time.

Against the gateway (``python -m gateway --model $VOSK_MODEL``, as a user starts it) and/or
the vosk-server WebRTC example (the "peer", fetched outside the repository: see
bench/peer/README.md), one fresh server per run, alternating targets level by level so both
see the same machine. Each caller streams a recording of the pocketsphinx-testdata human
speech (dense: ~60 s, 14 utterances, 0.8 s pauses; conversational: the same utterances with a
silent turn after each, about half the time speaking) and logs when every result arrives.

Measured per run (method: docs/performance.md, "Load benchmark"): server CPU-s per
audio-second, RSS per session, first-partial latency after speech onset and final latency
after speech end (median/p90/p95, from the caller's own clock), WER, utterances given a
final of their own, backlog growth (final lag trend), calls held in real time.

Usage::

    export VOSK_MODEL=/work/shared/models/vosk-model-small-en-us-0.15
    python3 bench/load.py --calls 1,4,8,12,16 --mode both --target both [--repeat 2]

Prints one line per run and a final table; writes ``bench/results/load-<time>.json`` (or
``--json PATH``) after every run, and server/caller logs under ``bench/results/load-<time>/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.load_harness import report, script  # noqa: E402
from bench.load_harness.run import RunConfig, run_once  # noqa: E402
from tests.support.speech import pocketsphinx_corpus  # noqa: E402

DEFAULT_PEER_DIR = Path(os.environ.get("LOAD_PEER_DIR", "/work/ext/vosk-server/webrtc"))
MODES = ("dense", "conversational")
TARGETS = ("gateway", "peer")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,4,8,12,16",
                        help="comma-separated concurrency levels (default 1,4,8,12,16)")
    parser.add_argument("--mode", choices=[*MODES, "both"], default="dense")
    parser.add_argument("--target", choices=[*TARGETS, "both"], default="gateway")
    parser.add_argument("--repeat", type=int, default=1, help="runs per level and target")
    parser.add_argument("--json", type=Path, help="results file (default bench/results/…)")
    parser.add_argument("--model", default=os.environ.get("VOSK_MODEL"),
                        help="Vosk model directory (default $VOSK_MODEL), the same for both")
    parser.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR,
                        help="vosk-server checkout's webrtc/ folder (default $LOAD_PEER_DIR or "
                             f"{DEFAULT_PEER_DIR})")
    parser.add_argument("--gateway-arg", action="append", default=[], metavar="ARG",
                        help="extra gateway flag, repeatable, e.g. --gateway-arg=--max-sessions=40")
    parser.add_argument("--idle", type=float, default=3.0,
                        help="a caller hangs up after this many s without a result (3)")
    parser.add_argument("--drain", type=float, default=30.0,
                        help="at most this many s of waiting after its audio ends (30)")
    parser.add_argument("--max-lag-slope", type=float, default=report.Bounds.max_lag_slope)
    parser.add_argument("--max-lag", type=float, default=report.Bounds.max_lag)
    parser.add_argument("--wer-tolerance", type=float, default=report.Bounds.wer_tolerance)
    args = parser.parse_args(argv)
    try:
        args.levels = [int(x) for x in args.calls.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--calls: not a comma-separated list of integers: {args.calls!r}")
    if not args.levels or min(args.levels) < 1 or args.repeat < 1:
        parser.error("--calls needs positive levels and --repeat at least 1")
    if not args.model:
        parser.error("no model: pass --model or set VOSK_MODEL")
    if args.target != "gateway" and not (args.peer_dir / "asr_server_webrtc.py").is_file():
        parser.error(f"no peer at {args.peer_dir}: fetch it first (bench/peer/README.md) "
                     "or pass --peer-dir")
    return args


def plan(args: argparse.Namespace) -> list[tuple[int, str, int, str]]:
    """(repeat, mode, calls, target) in run order: targets alternate at every level, and
    which goes first alternates between repeats, so neither always runs on a warmer machine."""
    modes = MODES if args.mode == "both" else (args.mode,)
    targets = TARGETS if args.target == "both" else (args.target,)
    order = []
    for rep in range(args.repeat):
        turn = targets if rep % 2 == 0 else tuple(reversed(targets))
        for mode in modes:
            for calls in args.levels:
                order += [(rep, mode, calls, t) for t in turn]
    return order


def _git(folder: Path, *cmd: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(folder), *cmd], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def write_scripts(modes: list[str], callers: int, folder: Path) -> dict[str, list[Path]]:
    """Every caller's recording and utterance list, per mode, under ``folder``."""
    corpus = pocketsphinx_corpus()
    if not corpus:
        raise SystemExit("pocketsphinx-testdata is not installed (apt-get install it)")
    base = script.cycle_to(script.clips(corpus), 58.0, 0.8)
    return {mode: [script.build(mode, base, k).write(folder / mode) for k in range(callers)]
            for mode in modes}


async def sweep(args: argparse.Namespace, out: Path, workdir: Path) -> dict[str, Any]:
    order = plan(args)
    bounds = report.Bounds(args.max_lag_slope, args.max_lag, args.wer_tolerance)
    scripts = write_scripts(sorted({m for _, m, _, _ in order}), max(args.levels),
                            workdir / "scripts")
    doc: dict[str, Any] = {
        "benchmark": "load", "version": 1,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {"cores": os.cpu_count(), "platform": platform.platform(),
                 "python": platform.python_version(), "loadavg_at_start": os.getloadavg()},
        "model": args.model,
        "gateway": {"commit": _git(REPO_ROOT, "rev-parse", "HEAD"), "args": args.gateway_arg},
        "peer": {"dir": str(args.peer_dir), "commit": _git(args.peer_dir, "rev-parse", "HEAD"),
                 "local_changes": _git(args.peer_dir, "diff", "HEAD")},
        "options": {k: v for k, v in vars(args).items() if k not in ("json", "peer_dir")}
        | {"peer_dir": str(args.peer_dir)},
        "bounds": vars(bounds),
        "scripts": {m: [script.load_script(p)[0] for p in paths] for m, paths in scripts.items()},
        "runs": [],
    }
    print(f"{len(order)} runs; results -> {out}; logs -> {workdir}", flush=True)
    print(report.HEADER, flush=True)
    for n, (rep, mode, calls, target) in enumerate(order, 1):
        cfg = RunConfig(target=target, mode=mode, calls=calls, model=args.model,
                        peer_dir=args.peer_dir, scripts=scripts[mode],
                        workdir=workdir / f"{n:02d}-{target}-{mode}-{calls}-r{rep + 1}",
                        gateway_args=args.gateway_arg, idle=args.idle, drain=args.drain)
        begun = time.monotonic()
        run = await run_once(cfg)
        run["repeat"] = rep + 1
        run["elapsed_s"] = round(time.monotonic() - begun, 1)
        doc["runs"].append(run)
        report.judge(doc["runs"], bounds)
        print(report.row(run), flush=True)
        await asyncio.to_thread(out.write_text, json.dumps(doc, indent=1))
    doc["ratios"] = report.ratios(doc["runs"])
    doc["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    await asyncio.to_thread(out.write_text, json.dumps(doc, indent=1))
    return doc


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.json or REPO_ROOT / "bench" / "results" / f"load-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = out.with_suffix("")
    doc = asyncio.run(sweep(args, out, workdir))
    print("\n" + report.HEADER)
    for run in doc["runs"]:
        print(report.row(run))
    for r in doc["ratios"]:
        print(f"gateway/peer {r['mode']} {r['calls']} calls: CPU {r['cpu_per_audio_s']}, "
              f"first partial {r['first_partial_median']}, final p90 {r['final_p90']}, "
              f"WER {r['wer']}")
    for line in report.warnings(doc["runs"]):
        print("WARNING: " + line)
    total = sum(r["elapsed_s"] for r in doc["runs"])
    print(f"{len(doc['runs'])} runs in {total / 60:.1f} min; wrote {out}")


if __name__ == "__main__":
    main()
