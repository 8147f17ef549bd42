"""The load benchmark's own bookkeeping (bench/load.py, bench/load_harness/).

Fast tests check the parts a wrong benchmark number would come from: where utterances are
placed in the audio, how an arrival log becomes latencies, merged-phrase counts and WER, when
a call counts as held, and the JSON a run produces. One slow test runs the whole harness
for one short call against a real gateway (the performance figures themselves come only from
``bench/load.py``, never from a test).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.load import plan
from bench.load_harness import report, script
from bench.load_harness.metrics import measure, phrases
from tests.support.speech import pocketsphinx_corpus

RATE = script.RATE


def tone(seconds: float, noise_before: float = 0.0, noise_after: float = 0.0,
         freq: float = 440.0) -> np.ndarray:
    """A tone between stretches of faint noise (-60 dBFS): a stand-in for a recording."""
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * RATE)) / RATE
    body = 8000 * np.sin(2 * np.pi * freq * t)
    pre = rng.normal(0, 30, round(noise_before * RATE))
    post = rng.normal(0, 30, round(noise_after * RATE))
    return np.concatenate([pre, body, post]).astype(np.int16)


def clip(name: str, text: str, seconds: float) -> script.Clip:
    samples = tone(seconds, 0.25, 0.3)
    onset, offset = script.speech_bounds(samples)
    return script.Clip(name, text, samples, onset, offset)


def test_speech_bounds_find_the_speech_to_10_ms() -> None:
    onset, offset = script.speech_bounds(tone(1.0, 0.5, 0.7))
    assert onset == pytest.approx(0.5, abs=0.01)
    assert offset == pytest.approx(1.5, abs=0.01)
    with pytest.raises(ValueError):
        script.speech_bounds(np.zeros(RATE, dtype=np.int16))


def test_lay_out_puts_speech_where_the_script_says() -> None:
    clips = [clip("a", "one two", 1.0), clip("b", "three", 0.6), clip("c", "four five", 0.8)]
    call = script.lay_out("dense", 0, clips, lead=0.3, gaps=[0.8, 2.0, 0.8], tail=1.5)
    spoken = call.utterances
    assert spoken[0].onset == pytest.approx(0.3, abs=1e-3)
    assert spoken[1].onset - spoken[0].offset == pytest.approx(0.8, abs=1e-3)
    assert spoken[2].onset - spoken[1].offset == pytest.approx(2.0, abs=1e-3)
    assert call.duration == pytest.approx(spoken[-1].offset + 1.5, abs=1e-3)
    # The recorded boundaries are where the energy is in the laid-out audio.
    for u in spoken:
        lo, hi = round((u.onset - 0.2) * RATE), round((u.offset + 0.2) * RATE)
        onset, offset = script.speech_bounds(call.samples[lo:hi])
        assert lo / RATE + onset == pytest.approx(u.onset, abs=0.011)
        assert lo / RATE + offset == pytest.approx(u.offset, abs=0.011)
    assert [u.transcript for u in spoken] == ["one two", "three", "four five"]


def test_script_round_trips_through_json(tmp_path: Path) -> None:
    call = script.lay_out("dense", 3, [clip("a", "one", 0.5)], lead=0.2, gaps=[0.8], tail=1.0)
    data, spoken = script.load_script(call.write(tmp_path))
    assert spoken == list(call.utterances)
    assert data["caller"] == 3 and Path(data["wav"]).is_file()
    assert data["duration"] == pytest.approx(call.duration, abs=1e-3)


def test_modes_on_the_real_recordings() -> None:
    corpus = pocketsphinx_corpus()
    if not corpus:
        pytest.skip("pocketsphinx-testdata is not installed")
    base = script.cycle_to(script.clips(corpus), 58.0, 0.8)
    assert len(base) == 14
    dense = [script.build("dense", base, k) for k in range(3)]
    talk = [script.build("conversational", base, k) for k in range(3)]
    for call in dense:
        assert 58 <= call.duration <= 64
        u = call.utterances
        pauses = [b.onset - a.offset for a, b in zip(u[:-1], u[1:], strict=True)]
        assert pauses == pytest.approx([0.8] * 13, abs=1e-3)
    for call in talk:
        assert 0.4 <= call.speech_seconds / call.duration <= 0.6
    # Same words for everyone, but callers out of phase.
    assert {tuple(u.transcript for u in c.utterances) for c in dense + talk} == {
        tuple(c.transcript for c in base)}
    assert len({c.utterances[0].onset for c in dense}) == 3
    assert len({c.utterances[0].onset for c in talk}) == 3


def test_phrases_group_partials_under_their_final() -> None:
    log = [[0.1, "partial", ""], [0.5, "partial", "hello"], [0.9, "partial", "hello there"],
           [1.2, "final", "hello there"], [1.5, "final", ""], [2.0, "partial", "bye"]]
    (only,) = phrases(log)
    assert only.at == 1.2 and only.words == ("hello", "there")
    assert only.partials == ((0.5, 1), (0.9, 2))


UTTS = [(1.0, 3.0, "one two three"), (4.0, 6.0, "four five six"), (7.0, 9.0, "seven eight")]


def test_latencies_and_merges_from_an_arrival_log() -> None:
    log = [
        [1.3, "partial", "one"], [1.8, "partial", "one two"], [3.5, "final", "one two three"],
        [4.4, "partial", "for"], [5.0, "partial", "four five"],
        [7.2, "partial", "four five six"],  # still utterance 2's words after 3 began
        [7.5, "partial", "four five six seven"], [9.6, "final", "four five six seven eight"],
    ]
    m = measure(UTTS, log)
    assert m.first_partial == pytest.approx([0.3, 0.4, 0.5])
    assert m.final == pytest.approx([0.5, 3.6, 0.6])  # 2 waited for 3's end: merged
    assert m.own == [True, False, False]
    assert m.errors == 0 and m.reference_words == 8
    assert [t for t, _ in m.lag] == [3.0, 9.0]
    assert [lag for _, lag in m.lag] == pytest.approx([0.5, 0.6])
    assert m.spurious == 0 and m.missed == 0


def test_errors_insertions_and_missing_utterances() -> None:
    log = [[3.4, "final", "uh one two tree"], [3.9, "final", "um"],
           [9.5, "final", "seven eight"]]
    m = measure(UTTS, log)
    # "uh" inserted, "tree" for "three", utterance 2 lost; WER's minimum edit pairs "um"
    # with one of its words (1 substitution + 2 deletions rather than 1 insertion + 3).
    assert m.errors == 1 + 1 + 1 + 2
    # But "um" arrived before utterance 2 began: it covers nothing.
    assert m.final[1] is None and m.first_partial[1] is None and m.missed == 1
    assert m.spurious == 1
    assert m.own == [True, False, True]
    assert m.first_partial[0] == pytest.approx(2.4)  # no partial: the final is the first


def call_metrics(lags: list[float], final_last: float | None = 0.5) -> dict[str, Any]:
    log: list[list[Any]] = []
    utts: list[tuple[float, float, str]] = []
    for i, lag in enumerate(lags):
        end = 5.0 * (i + 1)
        utts.append((end - 1.0, end, f"word{i}"))
        log.append([end + lag, "final", f"word{i}"])
    m = measure(utts, log)
    data = m.to_json()
    if final_last is None:
        data["final_s"][-1] = None
    return data


def test_a_call_is_held_only_without_backlog_growth() -> None:
    bounds = report.Bounds()
    flat = call_metrics([0.6, 0.7, 0.5, 0.6, 0.7, 0.6])
    growing = call_metrics([0.6, 1.5, 2.4, 3.3, 4.2, 5.1])  # +0.18 s per s of call
    assert flat["lag_slope"] == pytest.approx(0.0, abs=0.01)
    assert growing["lag_slope"] == pytest.approx(0.18, abs=0.01)
    assert report.call_held(flat, bounds)
    assert not report.call_held(growing, bounds)
    assert not report.call_held(call_metrics([0.6] * 6, final_last=None), bounds)


def fake_run(target: str, calls: int, wer_errors: int, *, refused: int = 0) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    for k in range(calls):
        if k < refused:
            records.append({"caller": k, "ok": False, "error": "refused: server_busy"})
            continue
        m = call_metrics([0.6, 0.7, 0.5, 0.6])
        m["errors"], m["wer"] = wer_errors, wer_errors / m["reference_words"]
        records.append({"caller": k, "ok": True, "audio_seconds": 60.0, "cpu_seconds": 1.5,
                        "connect_seconds": 0.3, "lateness": {"p99": 0.01},
                        "metrics": m})
    window = {"seconds": 65.0, "server_cpu_s": 10.8 * calls, "machine_busy_s": 13.0 * calls,
              "connect_cpu_s": 0.1, "rss_idle": 200 * report.MB,
              "rss_connected": 210 * report.MB, "rss_peak": (200 + 90 * calls) * report.MB}
    return report.summarize_run(target=target, mode="dense", started="t", calls=records,
                                server={"url": "u", "exit": 0}, window=window)


def test_run_summary_layout() -> None:
    run = fake_run("gateway", 4, 0)
    assert run["cpu"]["server_per_audio_s"] == pytest.approx(10.8 * 4 / 240, abs=1e-4)
    assert run["cpu"]["callers_s"] == pytest.approx(6.0)
    assert run["memory_mb"]["per_session"] == pytest.approx(90.0)
    assert run["latency_s"]["final"]["n"] == 16
    assert run["latency_s"]["final"]["median"] == pytest.approx(0.6, abs=0.05)
    assert run["own"] == 16 and run["utterances"] == 16 and run["held_calls"] == 4
    for key in ("first_partial", "final"):
        assert set(run["latency_s"][key]) == {"n", "median", "p90", "p95", "max"}
    assert {"lag_slope_median", "lag_slope_max", "max_lag_s"} <= set(run["backlog"])
    assert report.row(run).split()[:3] == ["gateway", "dense", "4"]


def test_levels_are_judged_against_one_call() -> None:
    runs = [fake_run("gateway", 1, 1), fake_run("gateway", 4, 1), fake_run("gateway", 8, 3),
            fake_run("peer", 1, 1), fake_run("peer", 4, 1, refused=1)]
    report.judge(runs, report.Bounds(wer_tolerance=0.03))
    assert [r["held"] for r in runs] == [True, True, False, True, False]
    (four,) = [r for r in report.ratios(runs) if r["calls"] == 4]
    assert four["cpu_per_audio_s"] == pytest.approx(
        runs[1]["cpu"]["server_per_audio_s"] / runs[4]["cpu"]["server_per_audio_s"])


def test_plan_alternates_targets_level_by_level() -> None:
    args = argparse.Namespace(mode="dense", target="both", levels=[1, 4], repeat=2)
    assert plan(args) == [
        (0, "dense", 1, "gateway"), (0, "dense", 1, "peer"),
        (0, "dense", 4, "gateway"), (0, "dense", 4, "peer"),
        (1, "dense", 1, "peer"), (1, "dense", 1, "gateway"),
        (1, "dense", 4, "peer"), (1, "dense", 4, "gateway"),
    ]


@pytest.mark.slow
async def test_one_short_call_through_the_real_gateway(tmp_path: Path, model_path: Path) -> None:
    from bench.load_harness.run import RunConfig, run_once

    corpus = {u.id: u for u in pocketsphinx_corpus()}
    if not corpus:
        pytest.skip("pocketsphinx-testdata is not installed")
    clips = script.clips([corpus["commands/goforward"], corpus["cards/001"]])
    call = script.lay_out("dense", 0, clips, lead=0.3, gaps=[0.8, 0.8], tail=2.0)
    cfg = RunConfig(target="gateway", mode="dense", calls=1, model=str(model_path),
                    peer_dir=tmp_path, workdir=tmp_path / "run",
                    scripts=[call.write(tmp_path / "scripts")], idle=2.0, drain=10.0)
    run = await run_once(cfg)
    assert run["connected"] == 1 and run["server"]["exit"] == 0
    assert run["utterances"] == 2 and run["missed"] == 0
    assert run["wer"] is not None and run["wer"] <= 0.3
    final = run["latency_s"]["final"]
    assert final["n"] == 2 and 0.0 < final["median"] < 5.0
    assert run["cpu"]["server_s"] > 0 and run["memory_mb"]["peak"] > run["memory_mb"]["idle"]
