"""A run's summary, the sweep's verdicts, and the table the benchmark prints.

JSON layout of one run (``summarize_run``); the sweep file holds a list of them under
``runs`` (see bench/load.py): every figure a reader needs to judge the run is in it, the
per-call arrival logs included, so a result can be re-analysed without running again.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MB = 1024 * 1024


@dataclass(frozen=True)
class Bounds:
    """When a call (and a level) counts as held in real time."""

    max_lag_slope: float = 0.02  # s of final lag gained per s of call (1.2 s per minute)
    max_lag: float = 5.0  # s: no final may trail its speech by more
    wer_tolerance: float = 0.03  # absolute: level WER at most 1-call WER + this
    max_lateness: float = 0.1  # s: a caller sending its frames later than this (p99) was
    #                            starved itself; its run measures the load generator
    max_other_cores: float = 0.25  # cores used by other processes: above, the machine was
    #                                not quiet and the run's figures are only indicative


def stats(values: Iterable[float | None]) -> dict[str, Any]:
    """median/p90/p95/max and count of the values that are not None."""
    xs = np.asarray([v for v in values if v is not None], dtype=float)
    if xs.size == 0:
        return {"n": 0, "median": None, "p90": None, "p95": None, "max": None}
    return {"n": int(xs.size), "median": round(float(np.median(xs)), 3),
            "p90": round(float(np.percentile(xs, 90)), 3),
            "p95": round(float(np.percentile(xs, 95)), 3), "max": round(float(xs.max()), 3)}


def call_held(metrics: dict[str, Any], bounds: Bounds) -> bool:
    """No backlog growth: a flat final lag, no final far behind, and the last utterance
    answered (a server that fell behind leaves the end of the call without finals)."""
    slope = metrics["lag_slope"]
    last_answered = bool(metrics["final_s"]) and metrics["final_s"][-1] is not None
    return (slope is not None and slope <= bounds.max_lag_slope
            and (metrics["max_lag_s"] or 0.0) <= bounds.max_lag and last_answered)


def summarize_run(*, target: str, mode: str, started: str, calls: list[dict[str, Any]],
                  server: dict[str, Any], window: dict[str, Any],
                  phases: dict[str, float] | None = None,
                  bounds: Bounds | None = None) -> dict[str, Any]:
    """One run's record: totals over its calls, pooled latencies, and the calls themselves."""
    bounds = bounds or Bounds()
    ok = [c for c in calls if c["ok"]]
    metrics = [c["metrics"] for c in ok]
    audio = sum(c["audio_seconds"] for c in ok)
    callers_cpu = sum(c["cpu_seconds"] for c in ok)
    server_cpu = window["server_cpu_s"]
    other = window["machine_busy_s"] - server_cpu - callers_cpu
    for c in ok:
        c["held"] = call_held(c["metrics"], bounds)
    ref = sum(m["reference_words"] for m in metrics)
    slopes = [m["lag_slope"] for m in metrics if m["lag_slope"] is not None]
    late = max((c["lateness"]["p99"] for c in ok), default=0.0)
    return {
        "target": target, "mode": mode, "calls": len(calls), "started": started,
        "connected": len(ok), "refused": [c.get("error") for c in calls if not c["ok"]],
        "audio_seconds": round(audio, 2), "window_seconds": round(window["seconds"], 2),
        "cpu": {
            "server_s": round(server_cpu, 2),
            "server_per_audio_s": round(server_cpu / audio, 4) if audio else None,
            "connect_phase_s": round(window["connect_cpu_s"], 2),
            "callers_s": round(callers_cpu, 2),
            "machine_busy_s": round(window["machine_busy_s"], 2),
            "other_s": round(other, 2),
            "other_cores": round(other / window["seconds"], 3) if window["seconds"] else None,
            "cores": os.cpu_count(),
        },
        "machine_quiet": bool(window["seconds"])
        and other / window["seconds"] <= bounds.max_other_cores,
        "memory_mb": {
            "idle": round(window["rss_idle"] / MB, 1),
            "connected": round(window["rss_connected"] / MB, 1),
            "peak": round(window["rss_peak"] / MB, 1),
            "per_session": round((window["rss_peak"] - window["rss_idle"]) / MB / len(ok), 1)
            if ok else None,
        },
        "latency_s": {
            "first_partial": stats(x for m in metrics for x in m["first_partial_s"]),
            "final": stats(x for m in metrics for x in m["final_s"]),
        },
        "wer": round(sum(m["errors"] for m in metrics) / ref, 4) if ref else None,
        "reference_words": ref,
        "utterances": sum(m["utterances"] for m in metrics),
        "own": sum(m["own"] for m in metrics),
        "missed": sum(m["missed"] for m in metrics),
        "backlog": {
            "lag_slope_median": round(statistics.median(slopes), 4) if slopes else None,
            "lag_slope_max": round(max(slopes), 4) if slopes else None,
            "max_lag_s": max((m["max_lag_s"] or 0.0 for m in metrics), default=None),
        },
        "held_calls": sum(1 for c in ok if c["held"]),
        "generator": {
            "lateness_p99_max_s": round(late, 4),
            "starved": late > bounds.max_lateness,
            "connect_median_s": round(statistics.median(
                [c["connect_seconds"] for c in ok]), 3) if ok else None,
        },
        "bounds": asdict(bounds),
        "server": server,
        "phases_s": phases or {},
        "calls_detail": calls,
    }


def judge(runs: Sequence[dict[str, Any]], bounds: Bounds) -> None:
    """Mark each run ``held`` (every call connected and held, WER within ``wer_tolerance`` of
    the same target's and mode's 1-call runs, the load generator not starved), in place.
    Without a 1-call run in the sweep the WER part is not checked (``wer_baseline`` None)."""
    for run in runs:
        singles = [r["wer"] for r in runs if r["calls"] == 1 and r["target"] == run["target"]
                   and r["mode"] == run["mode"] and r["wer"] is not None]
        baseline = statistics.mean(singles) if singles else None
        wer_ok = baseline is None or (run["wer"] is not None
                                      and run["wer"] <= baseline + bounds.wer_tolerance)
        run["wer_baseline"] = None if baseline is None else round(baseline, 4)
        run["held"] = (run["connected"] == run["calls"] and run["held_calls"] == run["calls"]
                       and wer_ok and not run["generator"]["starved"])


HEADER = (f"{'target':<8}{'mode':<7}{'calls':>5} {'held':>9} {'CPU/aud-s':>9} {'CPU-s':>7} "
          f"{'MB/sess':>7} {'1st-part p50/p90':>16} {'final p50/p90/p95':>18} {'WER':>6} "
          f"{'own':>8} {'lag+/s':>7} {'maxlag':>6} {'other':>5}")


def row(run: dict[str, Any]) -> str:
    """One line of the table for one run."""
    fp, fi = run["latency_s"]["first_partial"], run["latency_s"]["final"]
    held = run.get("held")
    mark = f"{run['held_calls']}/{run['calls']}" + ("" if held is None else " yes" if held
                                                    else " NO")
    return (f"{run['target']:<8}{run['mode'][:6]:<7}{run['calls']:>5} {mark:>9} "
            f"{_f(run['cpu']['server_per_audio_s'], 3):>9} {_f(run['cpu']['server_s'], 1):>7} "
            f"{_f(run['memory_mb']['per_session'], 1):>7} "
            f"{_f(fp['median'], 2) + '/' + _f(fp['p90'], 2):>16} "
            f"{_f(fi['median'], 2) + '/' + _f(fi['p90'], 2) + '/' + _f(fi['p95'], 2):>18} "
            f"{_f(run['wer'], 3):>6} {str(run['own']) + '/' + str(run['utterances']):>8} "
            f"{_f(run['backlog']['lag_slope_max'], 3):>7} "
            f"{_f(run['backlog']['max_lag_s'], 1):>6} {_f(run['cpu']['other_cores'], 2):>5}")


def warnings(runs: Sequence[dict[str, Any]]) -> list[str]:
    """What makes figures untrustworthy: a busy machine, a starved load generator."""
    out = []
    busy = [r for r in runs if not r["machine_quiet"]]
    if busy:
        worst = max(r["cpu"]["other_cores"] or 0.0 for r in busy)
        out.append(f"machine not quiet in {len(busy)} of {len(runs)} runs (other processes "
                   f"used up to {worst:.2f} cores): figures are indicative only")
    starved = [r for r in runs if r["generator"]["starved"]]
    if starved:
        out.append(f"load generator late in {len(starved)} runs (a caller's p99 packet "
                   "lateness over the bound): those runs measure the machine, not the server")
    return out


def _f(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def ratios(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gateway over peer, per mode and level (means over repeats): CPU, latency, WER."""
    out = []
    keys = sorted({(r["mode"], r["calls"]) for r in runs})
    for mode, calls in keys:
        g = [r for r in runs if (r["mode"], r["calls"], r["target"]) == (mode, calls, "gateway")]
        p = [r for r in runs if (r["mode"], r["calls"], r["target"]) == (mode, calls, "peer")]
        if not g or not p:
            continue
        entry: dict[str, Any] = {"mode": mode, "calls": calls}
        for name, get in (("cpu_per_audio_s", lambda r: r["cpu"]["server_per_audio_s"]),
                          ("first_partial_median", lambda r: r["latency_s"]["first_partial"]
                           ["median"]),
                          ("final_p90", lambda r: r["latency_s"]["final"]["p90"]),
                          ("wer", lambda r: r["wer"])):
            gv = [get(r) for r in g if get(r) is not None]
            pv = [get(r) for r in p if get(r) is not None]
            entry[name] = (round(statistics.mean(gv) / statistics.mean(pv), 3)
                           if gv and pv and statistics.mean(pv) else None)
        out.append(entry)
    return out
