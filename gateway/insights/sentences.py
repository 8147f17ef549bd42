"""Split one recognizer phrase into sentences, from word timing and cue words.

Vosk ends a phrase after 0.5-1.0 s of silence, longer than the pauses people leave between
sentences, so one final often holds a whole turn: "sure i can do that can you send me the
contract what time works for you". Intent is judged from the start of an utterance, so a
question or request in the middle is lost unless the phrase is cut where the sentences meet.

Three kinds of evidence decide a cut between two words, strongest first:

* a pause: in read speech Vosk leaves 0-0.1 s between the words of a sentence (LibriVox
  recordings of pocketsphinx-testdata: median 0, p99 0.09 s), while a 0.2 s silence between
  sentences shows up as a gap of about 0.4 s (espeak speech through the real model);
* a cue word that opens a new clause: an inverted question ("can you", "did we", "how long
  will"), "let's", or anything the insight rules recognise as an opener ("i'll", "please");
* whether the words around the cut can end and start a sentence at all: "the", "to" or
  "i think" never end one, "to", "of" or "by" never start one, and a tag ("right", "isn't
  it") belongs to the sentence before it.

Without timing (partial results, phrases with no words) only the strongest cue words cut,
which keeps the live transcript from breaking sentences it should not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .patterns import AUXILIARIES, SUBJECT_STARTS, WH_WORDS

# A gap this long between two words is a sentence break wherever the words allow one.
# 0.3 s found a few more breaks between sentences but also cut where speakers hesitate
# (measured: bench/insights_merged_eval.py, "paused" against "hesitant").
PAUSE_SECONDS = 0.45
# A shorter gap is a break when the next words open a clause (a cue).
CUE_PAUSE_SECONDS = 0.15
# Sentences shorter than this are not cut off (a lone word is a tag or a slip).
MIN_WORDS = 2
# Without a pause, a cue must have this many words on each side of the cut.
MIN_WORDS_UNPAUSED = 3
# The insight rules are asked about the words after a pause; bounded per phrase.
CUE_WINDOW_WORDS = 12
MAX_RULE_CHECKS = 48

# fmt: off
# Words after which a sentence cannot end, pause or not: articles, possessives,
# prepositions, conjunctions, "to", contracted auxiliaries ("that's", "i'll").
HARD_NO_END: frozenset[str] = frozenset((
    "a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "every", "such",
    "very", "to", "and", "or", "but", "nor", "because", "if", "whether", "although",
    "though", "while", "unless", "than", "as", "whereas", "let", "gonna", "wanna", "gotta",
    "i'll", "we'll", "you'll", "they'll", "he'll", "she'll", "it'll", "this'll", "i'm",
    "we're", "you're", "they're", "he's", "she's", "it's", "that's", "there's", "what's",
    "who's", "where's", "how's", "let's", "i'd", "we'd", "you'd", "they'd", "i've",
    "we've", "you've", "they've",
))
# Prepositions: no sentence ends on one, except questions ("what is it for", "is this
# something you'd be interested in").
PREPOSITIONS: frozenset[str] = frozenset((
    "of", "at", "for", "with", "from", "about", "into", "onto", "under", "between",
    "during", "without", "within", "like", "per", "via", "until", "till", "toward",
    "towards",
))
# Words that are prepositions or verb particles ("send it over", "log in"): they end a
# sentence only sometimes.
PARTICLES: frozenset[str] = frozenset((
    "in", "on", "over", "by", "through", "around", "after", "before", "since", "off",
    "out", "up", "down", "back",
))
# Words a sentence only sometimes ends on ("yes we should", "where are they"): after a
# pause they end one only if the next words clearly open a new clause.
SOFT_NO_END: frozenset[str] = frozenset((
    "is", "are", "was", "were", "am", "be", "been", "being", "do", "does", "did", "have",
    "has", "had", "can", "could", "would", "will", "should", "shall", "may", "might",
    "must", "i", "we", "they", "he", "she", "y'all", "what", "where", "when", "who", "whom",
    "whose", "how", "why", "which", "so", "then", "just", "also", "some", "any", "no",
    "make", "need", "want", "going", "really", "all",
))
# Verbs that take a clause: "i think | we should" goes on; "what do you think" ends.
CLAUSE_VERBS: frozenset[str] = frozenset((
    "think", "guess", "mean", "hope", "believe", "suppose", "wonder", "feel", "said", "bet",
    "assume", "realize", "know", "thought", "figured", "heard", "see",
))
_CLAUSE_SUBJECTS: frozenset[str] = frozenset(("i", "we", "they", "he", "she"))
# Words a sentence does not start with: they continue the one before.
NO_START: frozenset[str] = frozenset((
    "to", "of", "for", "with", "by", "on", "in", "at", "from", "than", "as", "into",
    "onto", "about", "nor", "or", "whom", "per", "via", "until", "till", "'s", "too",
    "either", "though", "yet", "instead",
))
# Tags that close the sentence before them: "that's the latest version | right".
TRAILING_TAGS: frozenset[str] = frozenset((
    "right", "correct", "okay", "ok", "yeah", "isn't it", "aren't they", "didn't we",
    "don't you think", "you know", "or not", "is that right", "is that correct",
    "does that make sense", "please", "too", "as well", "for sure", "i guess", "i think",
    "or something", "and stuff", "and so on", "or what", "right now", "yet", "then",
    "again", "though", "today", "tomorrow",
))
# Auxiliaries that open a question before a pronoun subject; copulas are left out because
# "the thing is you need to" is far more common than a cut before "is you".
_INVERTING: frozenset[str] = frozenset((
    "can", "could", "would", "will", "should", "shall", "do", "does", "did", "have", "has",
    "may", "won't", "can't", "couldn't", "wouldn't", "don't", "doesn't", "didn't",
    "haven't", "hasn't", "shouldn't",
))
_PRONOUN_SUBJECTS: frozenset[str] = frozenset(("you", "we", "i", "they", "he", "she", "y'all"))
_WH_AUX: frozenset[str] = frozenset((
    "do", "does", "did", "can", "could", "would", "will", "should", "shall", "won't",
    "don't", "doesn't", "didn't", "can't",
))
_DEGREE: frozenset[str] = frozenset(("long", "much", "many", "often", "far", "soon", "big"))
_COPULAS: frozenset[str] = frozenset(("is", "are", "was", "were"))
# Wh-words that take a copula only in questions; "which is" and "who is" open relative
# clauses ("the plan which is cheaper"), "what is" free relatives ("exactly what is needed").
_WH_COPULA: frozenset[str] = frozenset(("when", "where", "how", "why"))
_WH_CONTRACTED: frozenset[str] = frozenset(("what's", "how's", "where's", "when's", "why's"))
# Speaker commitments and proposals that start a sentence far more often than they
# continue one.
_OPENING_WORDS: frozenset[str] = frozenset(("let's", "i'll", "we'll"))
_OPENING_PAIRS: frozenset[tuple[str, str]] = frozenset(
    (("let", "me"), ("i", "will"), ("we", "will"), ("i'm", "going"), ("we're", "going"))
)
_WH: frozenset[str] = frozenset(WH_WORDS)
_LEAD_FILLERS: frozenset[str] = frozenset(
    ("so", "and", "but", "okay", "ok", "um", "uh", "well", "now", "then", "oh", "alright")
)
_CONTRACTED: tuple[str, ...] = ("'s", "'re", "'ll", "'m", "'d", "'ve")
_LONGEST_TAG = 4
_TAG_STARTS: frozenset[str] = frozenset(tag.split()[0] for tag in TRAILING_TAGS)
_AUX: frozenset[str] = frozenset(AUXILIARIES)
_SUBJECTS: frozenset[str] = frozenset(SUBJECT_STARTS)
# fmt: on

Span = tuple[int, int]
RuleCheck = Callable[[str], bool]


def fold(token: str) -> str:
    """Lowercase, apostrophes unified, surrounding punctuation dropped."""
    return token.lower().replace("’", "'").strip('.,?!;:"()')


def _strong_cue(words: Sequence[str], i: int) -> bool:
    """Words at ``i`` that open a question or commitment even with no pause before them."""
    word = words[i]
    after = words[i + 1] if i + 1 < len(words) else ""
    third = words[i + 2] if i + 2 < len(words) else ""
    if word in _OPENING_WORDS or (word, after) in _OPENING_PAIRS:
        return not (word == "let" and words[i - 1] in ("you", "please"))  # "can you let me"
    if word in _INVERTING and after in _PRONOUN_SUBJECTS:
        return True
    if word in _COPULAS and third not in _AUX and third != "know":
        # "is there", "are you": not "the problem is there is" or "they are you know".
        return after == "there" or (word != "is" and after in ("you", "we", "they"))
    if word in _WH_CONTRACTED:
        return True
    if word in _WH:
        if after in _WH_AUX or (word == "what" and after in ("about", "if")):
            return True
        if word in _WH_COPULA and after in _COPULAS:
            return True
        if word == "how" and after in _DEGREE:
            return third in _WH_AUX or third in _AUX
    return False


def _weak_cue(words: Sequence[str], i: int) -> bool:
    """Words that usually start a clause: a reason to believe a short pause is a break."""
    after = words[i + 1] if i + 1 < len(words) else ""
    return (
        words[i] in _PRONOUN_SUBJECTS
        or (words[i] in _AUX and after in _SUBJECTS)
        or words[i] in _WH
        or (words[i] in HARD_NO_END and words[i].endswith(_CONTRACTED))
        or words[i] in ("it", "this", "so", "and", "but", "okay", "also", "now", "then",
                        "well", "thanks", "thank", "yes", "yeah", "no", "please", "let",
                        "sorry", "anyway", "actually", "maybe")
    )  # fmt: skip


def _is_tag(words: Sequence[str], gaps: Sequence[float] | None, i: int) -> bool:
    """Whether a tag starts at ``i`` and ends the turn or is followed by a pause."""
    n = len(words)
    if words[i] not in _TAG_STARTS:
        return False
    for length in range(1, min(_LONGEST_TAG, n - i) + 1):
        end = i + length
        if " ".join(words[i:end]) not in TRAILING_TAGS:
            continue
        if end == n or (gaps is not None and gaps[end] >= CUE_PAUSE_SECONDS):
            return True
    return False


def _open_wh(words: Sequence[str], start: int, i: int) -> bool:
    """A fronted wh-phrase still waiting for its verb: "what kind of support | do you".

    The auxiliary at ``i`` completes that question instead of opening a new one.
    """
    if words[i] not in _AUX:
        return False
    first = start
    while first < i and words[first] in _LEAD_FILLERS:
        first += 1
    if first >= i or words[first] not in _WH:
        return False
    if first + 1 < i and words[first + 1] in ("about", "if"):  # "what about the plan |"
        return False
    return not any(w in _AUX or w.endswith(_CONTRACTED) for w in words[first + 1 : i])


def _end_kind(words: Sequence[str], start: int, i: int) -> str:
    """How well the sentence ``words[start:i]`` can end here: "hard", "soft" or "ok"."""
    last = words[i - 1]
    if last in HARD_NO_END:
        return "hard"
    if last in PREPOSITIONS:
        # Stranded prepositions end questions: "what is it for", "who did you talk to".
        opening = words[start : min(i, start + 4)]
        return "soft" if any(w in _WH or w in _AUX for w in opening) else "hard"
    if last in PARTICLES:
        return "soft"
    if last in CLAUSE_VERBS and i - 2 >= start and words[i - 2] in _CLAUSE_SUBJECTS:
        return "soft"
    return "soft" if last in SOFT_NO_END else "ok"


def split_words(
    tokens: Sequence[str],
    gaps: Sequence[float] | None = None,
    rule_check: RuleCheck | None = None,
) -> list[Span]:
    """Sentence spans ``[(first, end), ...]`` covering ``tokens`` in order.

    ``gaps[i]`` is the silence in seconds before token ``i`` (``None``: no timing, cue words
    only). ``rule_check(text)`` says whether the words starting a candidate sentence open an
    insight (the classifier); it is asked only where a pause already suggests a break.
    """
    words = [fold(t) for t in tokens]
    n = len(words)
    if n < 2 * MIN_WORDS:
        return [(0, n)] if n else []
    cuts: list[int] = []
    start = 0
    checks = 0
    for i in range(MIN_WORDS, n - MIN_WORDS + 1):
        if i - start < MIN_WORDS or words[i] in NO_START:
            continue
        end = _end_kind(words, start, i)
        if end == "hard":
            continue
        gap = gaps[i] if gaps is not None else 0.0
        if gap < PAUSE_SECONDS and _open_wh(words, start, i):
            continue
        cut = False
        if gap >= CUE_PAUSE_SECONDS:
            cut = _strong_cue(words, i)
            if not cut and end == "ok":
                cut = gap >= PAUSE_SECONDS or _weak_cue(words, i)
            elif not cut and gap >= PAUSE_SECONDS:
                cut = _weak_cue(words, i)
            if not cut and rule_check is not None and checks < MAX_RULE_CHECKS:
                checks += 1
                cut = rule_check(" ".join(words[i : i + CUE_WINDOW_WORDS]))
        elif end == "ok" and i - start >= MIN_WORDS_UNPAUSED and n - i >= MIN_WORDS_UNPAUSED:
            cut = _strong_cue(words, i)
        if cut and not _is_tag(words, gaps, i):
            cuts.append(i)
            start = i
    bounds = [0, *cuts, n]
    return [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]


def word_gaps(tokens: Sequence[str], times: Sequence[tuple[float, float]]) -> list[float] | None:
    """Silence before each token from ``(start, end)`` word times, or ``None`` when the
    times do not describe these tokens (a recognizer whose words and text disagree)."""
    if len(times) != len(tokens) or not tokens:
        return None
    gaps = [0.0]
    for (_, prev_end), (start, _) in zip(times, times[1:], strict=False):
        gaps.append(max(0.0, start - prev_end))
    return gaps
