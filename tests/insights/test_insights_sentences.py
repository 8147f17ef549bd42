"""Sentence splitting on recognizer-shaped input: lowercase words, no punctuation, word
times laid out as Vosk reports them (contiguous words, gaps where the speaker paused)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.insights import InsightsConfig, InsightsEngine, Tracker
from gateway.insights.punctuation import Punctuator
from gateway.insights.sentences import split_words, word_gaps
from gateway.transcript import Phrase, Speaker, Word
from tests.insights.helpers_insights import ALEX, SAM, START

WORD = 0.28  # seconds per word
WITHIN = 0.04  # gap between the words of a sentence


def turn(
    *parts: str | float, speaker: Speaker = ALEX, pid: str = "t1", start: float = 1.0
) -> Phrase:
    """One Vosk final from sentences and the pauses between them: turn("a b", 0.3, "c d").

    A float is a pause (seconds) before the next word; words are otherwise ``WITHIN`` apart.
    Each string may itself contain "|0.4|" to put a pause between two of its words.
    """
    words: list[Word] = []
    t = start
    pause = 0.0
    for part in parts:
        if isinstance(part, float):
            pause = part
            continue
        for token in part.split():
            if token.startswith("|"):
                pause = float(token.strip("|"))
                continue
            if words:
                t += pause or WITHIN
            pause = 0.0
            words.append(Word(token, round(t, 3), round(t + WORD, 3), 0.9))
            t += WORD
    text = " ".join(w.word for w in words)
    return Phrase(pid, text, speaker, words[0].start, words[-1].end, tuple(words))


def insights_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for m in messages if m["type"] == "insight_response" for i in m["insights"]]


def test_three_sentences_with_short_pauses_become_three() -> None:
    # Vosk merges these: the 0.3 s pauses are shorter than its 0.5 s endpoint.
    e = InsightsEngine(InsightsConfig(timezone_offset_minutes=480), START)
    e.add_participant(SAM)
    merged = turn(
        "sure i can do that", 0.3, "can you send me the contract by friday", 0.3,
        "what time works for you tomorrow",
    )  # fmt: skip
    result = e.feed(merged)
    assert result.content == (
        "Sure, I can do that. Can you send me the contract by Friday? "
        "What time works for you tomorrow?"
    )
    assert [s.content for s in result.sentences] == [
        "Sure, I can do that.",
        "Can you send me the contract by Friday?",
        "What time works for you tomorrow?",
    ]
    assert [(s.first_word, s.end_word) for s in result.sentences] == [(0, 5), (5, 13), (13, 19)]
    assert result.sentences[1].start == merged.words[5].start
    action, question = insights_of(result.messages)
    assert action["type"] == "action_item" and question["type"] == "question"
    assert action["text"] == action["payload"]["content"] == result.sentences[1].content
    assert question["text"] == "What time works for you tomorrow?"
    assert action["assignee"] == SAM.to_json()
    assert action["messageReference"] == question["messageReference"] == {"id": "t1"}
    # Tag offsets are into the insight's own text, as Symbl's are into its payload.
    (tag,) = action["tags"]
    assert action["text"][tag["beginOffset"] :].startswith("by Friday")
    assert action["dueBy"] == {"value": "2026-11-20T00:00:00-08:00"}


def test_the_old_engine_case_a_question_late_in_a_phrase() -> None:
    e = InsightsEngine(InsightsConfig(), START)
    result = e.feed(turn("we moved to the new office last month", 0.35, "is there parking nearby"))
    (insight,) = insights_of(result.messages)
    assert insight["type"] == "question" and insight["text"] == "Is there parking nearby?"


def test_hesitations_after_words_that_cannot_end_a_sentence_do_not_cut() -> None:
    p = Punctuator()
    # "the |0.5| report": people pause inside noun phrases; no sentence ends on "the".
    for parts in (
        ("i'll send the |0.5| report tomorrow",),
        ("we need to |0.4| decide on the vendor",),
        ("i think |0.4| we should wait",),
        ("i'll follow up with |0.4| the customer",),
    ):
        merged = turn(*parts)
        spans = split_words(
            merged.text.split(), word_gaps(merged.text.split(), _times(merged)), None
        )
        assert spans == [(0, len(merged.words))], parts
    merged = turn("i'll send the |0.5| report tomorrow")
    assert p.punctuate(merged.text) == "I'll send the report tomorrow."


def _times(phrase: Phrase) -> list[tuple[float, float]]:
    return [(w.start, w.end) for w in phrase.words]


def test_a_tag_after_a_pause_stays_with_its_sentence() -> None:
    e = InsightsEngine(InsightsConfig(), START)
    result = e.feed(turn("that's the latest version", 0.35, "right"))
    assert result.content == "That's the latest version, right?"
    result = e.feed(turn("we agreed on the trial didn't we", 0.4, "i'll send the contract"))
    assert result.content == "We agreed on the trial, didn't we? I'll send the contract."


def test_a_single_sentence_is_never_cut_without_cause() -> None:
    e = InsightsEngine(InsightsConfig(), START)
    for text in (
        "what kind of support do you offer",
        "how many users do you have",
        "can you let me know when it ships",
        "the problem is there is no budget",
        "is that a hard deadline or is there some flexibility",
    ):
        result = e.feed(turn(text))
        assert len(result.sentences) == 1, result.content


def test_cue_words_cut_even_without_a_pause() -> None:
    # Someone who runs sentences together: only strong openers can cut.
    merged = turn("i sent the invoice yesterday did you get it")
    result = InsightsEngine(InsightsConfig(), START).feed(merged)
    assert result.content == "I sent the invoice yesterday. Did you get it?"
    (insight,) = insights_of(result.messages)
    assert insight["text"] == "Did you get it?"


def test_phrases_without_word_times_use_cue_words_only() -> None:
    e = InsightsEngine(InsightsConfig(), START)
    no_words = Phrase("n1", "the budget looks fine what do you think", ALEX, 0.0, 3.0)
    result = e.feed(no_words)
    assert result.content == "The budget looks fine. What do you think?"
    # Words that disagree with the text (another recognizer) are not trusted for timing.
    odd = Phrase("n2", "can you send it", ALEX, 0.0, 2.0, (Word("can", 0.0, 0.2, 1.0),))
    assert e.feed(odd).content == "Can you send it?"


def test_tracker_offsets_point_into_the_message_and_into_the_insight() -> None:
    e = InsightsEngine(InsightsConfig(trackers=(Tracker("Pricing", ("discount",)),)), START)
    result = e.feed(turn("thanks for the demo", 0.3, "can you give us a discount", pid="d1"))
    (message,) = [m for m in result.messages if m["type"] == "tracker_response"]
    (match,) = message["trackers"][0]["matches"]
    (ref,) = match["messageRefs"]
    assert ref["text"] == result.content
    assert result.content[ref["offset"] :].startswith("discount")
    (insight_ref,) = match["insightRefs"]
    (insight,) = insights_of(result.messages)
    assert insight_ref["id"] == insight["id"] and insight_ref["text"] == insight["text"]
    assert insight["text"][insight_ref["offset"] :].startswith("discount")


def test_no_insight_ref_when_the_match_is_in_another_sentence() -> None:
    e = InsightsEngine(InsightsConfig(trackers=(Tracker("Pricing", ("discount",)),)), START)
    result = e.feed(turn("the discount was generous", 0.3, "can you send the contract"))
    (message,) = [m for m in result.messages if m["type"] == "tracker_response"]
    assert message["trackers"][0]["matches"][0]["insightRefs"] == []


@pytest.mark.parametrize(
    ("raw", "partial", "final"),
    [
        ("can you hear me", "Can you hear me", "Can you hear me?"),
        ("can you hear me do you see my screen",
         "Can you hear me? Do you see my screen", "Can you hear me? Do you see my screen?"),
        ("okay so i'll order the laptops today", "Okay, so I'll order the laptops today",
         "Okay, so I'll order the laptops today."),
        ("we covered pricing what about the support plan",
         "We covered pricing. What about the support plan",
         "We covered pricing. What about the support plan?"),
        ("i think we should", "I think we should", "I think we should."),
    ],
)  # fmt: skip
def test_partials_keep_the_last_sentence_open(raw: str, partial: str, final: str) -> None:
    e = InsightsEngine(InsightsConfig(), START)
    assert e.punctuate(raw, final=False) == partial
    assert e.punctuate(raw) == final


def test_content_keeps_the_words_one_for_one() -> None:
    merged = turn("okay so", 0.3, "can you send it", 0.3, "i'll check the numbers right now")
    content = InsightsEngine(InsightsConfig(), START).feed(merged).content
    assert len(content.split(" ")) == len(merged.words)


def test_pathological_phrase_stays_bounded() -> None:
    # Every word after a pause and a cue: the rules are consulted a bounded number of times.
    parts: list[str | float] = ["can you send it", 0.2] * 2000
    merged = turn(*parts[:-1])
    result = InsightsEngine(InsightsConfig(), START).feed(merged)
    assert len(result.content.split(" ")) == len(merged.words)
    assert len(insights_of(result.messages)) <= 32
