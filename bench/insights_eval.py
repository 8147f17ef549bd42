"""Insights benchmark: precision/recall per insight type, per-phrase cost, the same on
long phrases that merge 2-4 utterances (sentence splitting; the before/after comparison
is bench/insights_merged_eval.py), and a comparison of keyphrase extractors for topics.

    python bench/insights_eval.py [--json bench/results/insights_eval.json]

Prints the numbers and writes them as JSON (bench/results/ is gitignored).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yake  # noqa: E402

from gateway.insights.evaluation import evaluate, load  # noqa: E402
from gateway.insights.merged_evaluation import (  # noqa: E402
    TIMINGS,
    build,
    evaluate_merged,
    load_labelled,
)
from gateway.insights.textnorm import stem  # noqa: E402
from gateway.insights.topics import TopicTracker  # noqa: E402

DATA = ROOT / "tests" / "data"
TARGETS = {"question": (0.90, 0.85), "action_item": (0.85, 0.80)}
TOP_K = 10


def _stopwords() -> set[str]:
    path = Path(yake.__file__).parent / "core" / "StopwordsList" / "stopwords_en.txt"
    words = {w.strip() for w in path.read_text(encoding="utf-8", errors="ignore").splitlines()}
    return words | {"yeah", "okay", "um", "uh", "like", "gonna", "so", "let's", "i'll", "we're"}


STOP = _stopwords()


def _candidates(text: str, max_words: int = 3) -> list[list[str]]:
    """Stopword-delimited runs: the classic RAKE candidate phrases."""
    runs: list[list[str]] = []
    current: list[str] = []
    for word in re.findall(r"[a-z][a-z']*", text.lower()):
        if word in STOP:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(word)
    if current:
        runs.append(current)
    return [run[:max_words] for run in runs]


def rake(utterances: list[str]) -> list[str]:
    """RAKE: word score = degree / frequency, phrase score = sum of word scores."""
    phrases = [c for u in utterances for c in _candidates(u)]
    freq: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for phrase in phrases:
        for word in phrase:
            freq[word] += 1
            degree[word] += len(phrase)
    scored = {" ".join(p): sum(degree[w] / freq[w] for w in p) for p in phrases}
    return [p for p, _ in sorted(scored.items(), key=lambda kv: -kv[1])][:TOP_K]


def frequent_chunks(utterances: list[str]) -> list[str]:
    """Repeated stopword-delimited 1-2 word chunks, ranked by count then length."""
    counts: Counter[str] = Counter()
    for u in utterances:
        for run in _candidates(u, max_words=2):
            counts[" ".join(run)] += 1
    return [p for p, _ in sorted(counts.items(), key=lambda kv: (-kv[1], -len(kv[0])))][:TOP_K]


def yake_whole(utterances: list[str], n: int = 3) -> list[str]:
    extractor = yake.KeywordExtractor(lan="en", n=n, top=TOP_K)
    return [str(k) for k, _ in extractor.extract_keywords(" ".join(utterances))]


def engine_topics(utterances: list[str]) -> list[str]:
    tracker = TopicTracker()
    for i, u in enumerate(utterances):
        tracker.add(f"m{i}", u)
        if tracker.ready():
            tracker.extract()
    tracker.extract()
    return [str(t["phrases"]) for t in tracker.ranked()][:TOP_K]


def summa_keywords(utterances: list[str]) -> list[str]:
    from summa import keywords  # optional, bench only

    return [str(k) for k in keywords.keywords(" ".join(utterances), split=True)][:TOP_K]


def _matches(gold: str, predicted: str) -> bool:
    g = {stem(w) for w in gold.split()}
    p = {stem(w) for w in predicted.split()}
    # Same phrase, or one contains the other with at least two shared words.
    return g == p or ((g <= p or p <= g) and len(g & p) >= min(2, len(g)))


def compare_extractors() -> dict[str, Any]:
    conversations = [json.loads(x) for x in (DATA / "topics_eval.jsonl").read_text().splitlines()]
    methods: dict[str, Callable[[list[str]], list[str]]] = {
        "engine (yake n<=2, per chunk, merged)": engine_topics,
        "yake n<=3 whole text": yake_whole,
        "rake (stopword runs)": rake,
        "frequent chunks": frequent_chunks,
    }
    try:
        import summa  # noqa: F401

        methods["summa textrank"] = summa_keywords
    except ImportError:
        pass
    results: dict[str, Any] = {}
    for name, method in methods.items():
        found = gold_total = hits = predicted_total = 0
        elapsed = 0.0
        for conv in conversations:
            began = time.perf_counter()
            predicted = method(conv["utterances"])
            elapsed += time.perf_counter() - began
            gold = conv["topics"]
            found += sum(any(_matches(g, p) for p in predicted) for g in gold)
            hits += sum(any(_matches(g, p) for g in gold) for p in predicted)
            gold_total += len(gold)
            predicted_total += len(predicted)
        results[name] = {
            "recall_at_10": round(found / gold_total, 3),
            "precision_at_10": round(hits / max(1, predicted_total), 3),
            "ms_per_conversation": round(1000 * elapsed / len(conversations), 2),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "insights_eval.json"
    )
    args = parser.parse_args()
    output: dict[str, Any] = {}
    ok = True
    for name in ("insights_eval.jsonl", "insights_heldout.jsonl"):
        summary = evaluate(load(DATA / name)).summary()
        output[name] = summary
        print(f"\n== {name}")
        for t, s in summary["types"].items():
            target = TARGETS.get(t)
            met = target is None or (s["precision"] >= target[0] and s["recall"] >= target[1])
            ok = ok and (met or name != "insights_eval.jsonl")
            goal = (
                f"(target P>={target[0]:.2f} R>={target[1]:.2f}: {'met' if met else 'MISSED'})"
                if target
                else ""
            )
            print(
                f"{t:12} precision {s['precision']:.3f}  recall {s['recall']:.3f}  "
                f"tp={s['tp']} fp={s['fp']} fn={s['fn']} {goal}"
            )
        print(
            f"assignee accuracy {summary['assignee_accuracy']:.3f} (n={summary['assignee_total']})"
            f"  due phrase accuracy {summary['due_accuracy']:.3f} (n={summary['due_total']})"
        )
        ms = summary["per_phrase_ms"]
        print(
            f"per-phrase cost: median {ms['median']:.3f} ms  p95 {ms['p95']:.3f} ms  "
            f"max {ms['max']:.3f} ms  (n={ms['n']}; target median < 5 ms: "
            f"{'met' if ms['median'] < 5 else 'MISSED'})"
        )
        ok = ok and ms["median"] < 5
        for err in summary["errors"]:
            print(f"  miss {err['id']}: {err['label']} -> {err['predicted']}: {err['text']}")
    for name in ("insights_eval.jsonl", "insights_heldout.jsonl"):
        merged = evaluate_merged(build(load_labelled(DATA / name), TIMINGS["paused"]))
        output[f"merged:{name}"] = merged
        print(f"\n== {name} merged 2-4 per phrase, 0.2-0.4 s between sentences")
        for t, s in merged["aligned"].items():
            target = TARGETS.get(t)
            met = target is None or (s["precision"] >= target[0] and s["recall"] >= target[1])
            ok = ok and met
            print(
                f"{t:12} precision {s['precision']:.3f}  recall {s['recall']:.3f}  "
                f"(each insight matched to its own sentence){'' if met else ' MISSED'}"
            )
        ms = merged["per_phrase_ms"]
        print(
            f"sentence boundaries P {merged['boundaries']['precision']:.3f} "
            f"R {merged['boundaries']['recall']:.3f}; per merged phrase: median "
            f"{ms['median']:.3f} ms  p95 {ms['p95']:.3f} ms (n={merged['phrases']})"
        )
    print("\n== keyphrase extractors (tests/data/topics_eval.jsonl)")
    comparison = compare_extractors()
    output["keyphrase_extractors"] = comparison
    for name, r in comparison.items():
        print(
            f"{name:40} recall@10 {r['recall_at_10']:.3f}  precision@10 "
            f"{r['precision_at_10']:.3f}  {r['ms_per_conversation']:.2f} ms/conversation"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(output, indent=2))
    print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
