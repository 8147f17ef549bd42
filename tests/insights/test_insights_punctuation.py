from __future__ import annotations

import pytest

from gateway.insights.punctuation import Punctuator


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("i think the api is down", "I think the API is down."),
        ("what do you think about the new pricing", "What do you think about the new pricing?"),
        ("can you send me the contract by friday", "Can you send me the contract by Friday?"),
        ("okay so i'll order the laptops today", "Okay, so I'll order the laptops today."),
        ("that's the latest version right", "That's the latest version, right?"),
        ("we moved in september", "We moved in September."),
        ("hello", "Hello."),
        ("  spaced   out   words  ", "Spaced out words."),
        ("", ""),
        ("   ", ""),
    ],
)
def test_final_punctuation(raw: str, expected: str) -> None:
    assert Punctuator().punctuate(raw) == expected


def test_partial_results_get_no_end_mark() -> None:
    assert Punctuator().punctuate("can you hear me", final=False) == "Can you hear me"


def test_speaker_names_are_capitalized() -> None:
    assert Punctuator(["Priya Shah"]).punctuate("priya will review it") == "Priya will review it."


def test_words_are_kept_one_for_one() -> None:
    raw = "okay so i'll send it by friday right"
    assert len(Punctuator().punctuate(raw).split()) == len(raw.split())


def test_non_ascii_and_huge_input() -> None:
    p = Punctuator()
    assert p.punctuate("über café") == "Über café."
    huge = "word " * 10_000
    assert p.punctuate(huge).endswith("word.")
