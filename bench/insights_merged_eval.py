"""Insights on long merged phrases: the engine now against the engine before sentence
splitting, on the same phrases.

    python bench/insights_merged_eval.py [--baseline REF] [--json PATH]

Each labelled set in tests/data (insights_eval, insights_heldout) is merged into phrases of
2-4 utterances under each timing condition of ``gateway/insights/merged_evaluation.py``.
"Before" runs the same scoring file against the ``gateway/`` package of git revision REF
(default: the last commit before sentence splitting), extracted with ``git archive`` into
a temporary directory and imported in a subprocess, so nothing in the checkout changes.
Prints a table and writes JSON (bench/results/ is gitignored).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.insights.merged_evaluation import (  # noqa: E402
    TIMINGS,
    build,
    evaluate_merged,
    load_labelled,
)
from gateway.insights.punctuation import Punctuator  # noqa: E402
from gateway.insights.segment import segment  # noqa: E402

DATA = ROOT / "tests" / "data"
SETS = ("insights_eval.jsonl", "insights_heldout.jsonl")
# The engine before sentence splitting (one insight per phrase, judged from its start).
DEFAULT_BASELINE = "a9c5961"
MODULE = ROOT / "gateway" / "insights" / "merged_evaluation.py"

# Run in the baseline's interpreter: load this checkout's scoring file by path, so its
# ``gateway`` imports resolve to the extracted old package first on sys.path.
_CHILD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("merged_evaluation", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules["merged_evaluation"] = mod  # dataclasses look their module up
spec.loader.exec_module(mod)
out = {}
for name in sys.argv[3:]:
    rows = mod.load_labelled(__import__("pathlib").Path(sys.argv[2]) / name)
    out[name] = {t: mod.evaluate_merged(mod.build(rows, timing))
                 for t, timing in mod.TIMINGS.items()}
print(json.dumps(out))
"""


def run_current() -> dict[str, Any]:
    return {
        name: {t: evaluate_merged(build(load_labelled(DATA / name), timing))
               for t, timing in TIMINGS.items()}
        for name in SETS
    }  # fmt: skip


def run_baseline(ref: str) -> dict[str, Any] | None:
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "gateway"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"baseline {ref!r} unavailable ({exc}); reporting the current engine only")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(MODULE), str(DATA), *SETS],
            capture_output=True, text=True, cwd=tmp, env={**os.environ, "PYTHONPATH": tmp},
        )  # fmt: skip
    if child.returncode != 0:
        print(f"baseline {ref!r} failed:\n{child.stderr[-2000:]}")
        return None
    result: dict[str, Any] = json.loads(child.stdout)
    return result


def _median_p95(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return round(statistics.median(timings), 3), round(timings[int(0.95 * (len(timings) - 1))], 3)


def segmentation_cost() -> dict[str, float]:
    """Cost of cutting, classifying and punctuating alone per merged final, and of
    punctuating the same text as a partial (which runs on the event loop)."""
    punctuator = Punctuator()
    phrases = [m.phrase for name in SETS
               for m in build(load_labelled(DATA / name), TIMINGS["paused"])]  # fmt: skip
    finals, partials = [], []
    for phrase in phrases:
        began = time.perf_counter()
        segment(phrase, punctuator)
        finals.append((time.perf_counter() - began) * 1000.0)
        began = time.perf_counter()
        punctuator.punctuate(phrase.text, final=False)
        partials.append((time.perf_counter() - began) * 1000.0)
    final_median, final_p95 = _median_p95(finals)
    partial_median, partial_p95 = _median_p95(partials)
    return {
        "median_ms": final_median,
        "p95_ms": final_p95,
        "partial_median_ms": partial_median,
        "partial_p95_ms": partial_p95,
        "words_per_phrase": round(statistics.mean(len(p.text.split()) for p in phrases), 1),
    }


def _pr(score: dict[str, Any]) -> str:
    return f"P {score['precision']:.3f} R {score['recall']:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision for 'before'")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "insights_merged_eval.json"
    )
    args = parser.parse_args()
    after = run_current()
    before = run_baseline(args.baseline) if args.baseline else None
    for name in SETS:
        print(f"\n== {name}, merged 2-4 per phrase")
        for timing in TIMINGS:
            now = after[name][timing]
            then = before[name][timing] if before else None
            feed = f"{now['per_phrase_ms']['median']:.2f} ms"
            if then:
                feed += f", before {then['per_phrase_ms']['median']:.2f} ms"
            print(f"-- {timing} ({now['phrases']} phrases; per-phrase feed median {feed})")
            for label, score in now["aligned"].items():
                old = f"before {_pr(then['aligned'][label])}  " if then else ""
                loose_old = f"{_pr(then['per_phrase'][label])} -> " if then else ""
                print(
                    f"   {label:12} sentence-aligned: {old}after {_pr(score)}   "
                    f"per-phrase count: {loose_old}{_pr(now['per_phrase'][label])}"
                )
            cuts = now["boundaries"]
            print(f"   sentence boundaries {_pr(cuts)}; insight text is exactly its "
                  f"sentence: {now['insight_is_its_sentence']:.3f}")  # fmt: skip
    cost = segmentation_cost()
    print(
        f"\nsegmentation alone (cut + classify + punctuate): median {cost['median_ms']} ms, "
        f"p95 {cost['p95_ms']} ms per phrase of {cost['words_per_phrase']} words on average; "
        f"the same text as a partial: median {cost['partial_median_ms']} ms, "
        f"p95 {cost['partial_p95_ms']} ms"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(
        {"after": after, "before": before, "baseline": args.baseline,
         "segmentation_cost": cost}, indent=2))  # fmt: skip
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
