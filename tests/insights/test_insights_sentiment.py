from __future__ import annotations

from gateway.insights.sentiment import sentiment, suggested


def test_shape_and_labels() -> None:
    good = sentiment("i love the new dashboard it's great")
    bad = sentiment("this is terrible and i hate the outage")
    flat = sentiment("the meeting is on tuesday")
    for result in (good, bad, flat):
        assert set(result) == {"polarity", "suggested"}
        assert -1.0 <= result["polarity"]["score"] <= 1.0
    assert good["suggested"] == "positive"
    assert bad["suggested"] == "negative"
    assert flat["suggested"] == "neutral"


def test_symbl_cut_offs() -> None:
    assert suggested(0.31) == "positive"
    assert suggested(0.3) == "neutral"
    assert suggested(-0.3) == "neutral"
    assert suggested(-0.31) == "negative"


def test_empty_non_ascii_and_huge() -> None:
    assert sentiment("") == {"polarity": {"score": 0.0}, "suggested": "neutral"}
    assert sentiment("东京 ñandú")["suggested"] == "neutral"
    assert -1.0 <= sentiment("great " * 10_000)["polarity"]["score"] <= 1.0
