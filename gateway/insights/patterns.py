"""Rule data for insight classification: word lists and opener templates, no logic.

Kept as data so that tuning means editing a list, and so the evaluation set (not a reader's
eye) decides whether an edit helps. ``classify.py`` compiles these into regexes once.
Everything here is lowercase recognizer vocabulary (Vosk keeps apostrophes in contractions).
"""

from __future__ import annotations

from dataclasses import dataclass

# Word lists read best as paragraphs; keep the formatter from putting one word per line.
# fmt: off

# Discourse fillers and hedges stripped from the front before matching: they carry no
# intent and recognizers emit them freely ("okay so um can you ...").
LEADING_FILLERS: tuple[str, ...] = (
    "um", "uh", "er", "ah", "hmm", "mm", "so", "and", "but", "okay", "ok", "alright",
    "all right", "well", "yeah", "yes", "oh", "also", "actually", "anyway", "now", "then",
    "hey", "hi", "hello", "great", "cool", "sure", "perfect", "awesome", "basically",
    "i think", "i guess", "i mean", "maybe", "perhaps", "just", "like", "honestly",
    "in that case", "if that's okay", "and then",
)

WH_WORDS: tuple[str, ...] = (
    "what", "what's", "whats", "how", "how's", "why", "when", "when's", "where", "where's",
    "who", "who's", "whose", "which", "whom",
)

# Auxiliaries that open yes/no questions when followed by a subject.
AUXILIARIES: tuple[str, ...] = (
    "is", "are", "was", "were", "am", "do", "does", "did", "have", "has", "had", "can",
    "could", "would", "will", "should", "shall", "may", "might", "isn't", "aren't",
    "wasn't", "weren't", "don't", "doesn't", "didn't", "haven't", "hasn't", "can't",
    "couldn't", "wouldn't", "won't", "shouldn't",
)

# Words that can start the subject right after a fronted auxiliary ("is there", "did the").
SUBJECT_STARTS: tuple[str, ...] = (
    "i", "you", "we", "they", "he", "she", "it", "there", "their", "this", "that", "these",
    "those", "the", "your", "our", "my", "his", "her", "its", "any", "anyone", "anybody",
    "everyone", "everybody", "someone", "somebody", "people", "all", "both", "each",
    "either", "y'all", "ya", "u",
)

# Pronoun subjects: a wh-word followed directly by one of these is usually a relative or
# embedded clause ("what we need is ...", "how we handle refunds ..."), not a question.
CLAUSE_SUBJECTS: tuple[str, ...] = (
    "i", "i'm", "i've", "i'd", "we", "we're", "we've", "we'd", "you", "you're", "you've",
    "they", "they're", "he", "he's", "she", "she's", "it", "it's", "there", "there's",
)

# Question phrases that work anywhere at the start regardless of syntax.
QUESTION_OPENERS: tuple[str, ...] = (
    r"i (?:was|am|'m) wondering (?:if|whether|what|when|how|why|who|about)",
    r"i wonder (?:if|whether|what|when|how|why|who)",
    r"(?:can|could|may) i ask",
    r"any (?:questions?|thoughts|ideas?|feedback|updates?|news|objections|concerns|luck)",
    r"what if",
    r"what about",
    r"you mean",
    r"(?:you're|you are) (?:okay|ok|fine|good|happy|comfortable|sure|aware|saying)",
    r"do you mind if",
    r"is it (?:okay|ok|alright|possible) (?:if|to)",
)

# Trailing tags that turn a statement into a question ("..., right?").
QUESTION_TAGS: tuple[str, ...] = (
    r"(?<!that's )(?<!that is )(?<!all )(?<!is )(?<!exactly )(?<!alright )right",
    "correct", "isn't it", "aren't they", "aren't we", "didn't we", "didn't you",
    "don't you think", "don't we", "don't you", "did we", "won't it", "doesn't it",
    "wasn't it", "haven't we", "is that right", "is that correct", "does that make sense",
    "or not", "yes or no", "am i right",
    r"(?:isn't|aren't|wasn't|weren't|don't|doesn't|didn't|haven't|hasn't|won't|wouldn't|"
    r"can't|couldn't|shouldn't) (?:i|you|we|they|it|he|she|there)",
)

# Idioms shaped like questions that are not asking anything.
NOT_QUESTIONS: tuple[str, ...] = (
    r"who knows", r"what a\b", r"why not$", r"how about that$", r"what i mean is",
    r"what happened was", r"how come$", r"guess what", r"you know what i mean",
    r"what's done is done", r"who cares",
    r"how (?:cool|great|awesome|nice|amazing|crazy|funny|weird|sad|lucky) is that",
)

# Verbs that, asked of the listener, request information now rather than a task later:
# "can you hear me" is a question, "can you send me the deck" is an action item.
INFORMATION_VERBS: tuple[str, ...] = (
    "hear", "see", "repeat", "tell", "explain", "clarify", "elaborate", "confirm that",
    "describe", "walk me", "remind me what", "say",
)

# Verbs (base form) naming a task someone can be held to. Inflections are generated.
TASK_VERBS: tuple[str, ...] = (
    "send", "sent", "resend", "share", "forward", "email", "e-mail", "mail", "update",
    "review", "check", "double check", "look into", "look at", "take a look", "take care",
    "take", "handle", "fix", "finish", "finalize", "prepare", "draft", "write", "create",
    "build", "put together", "pull", "get", "give", "add", "remove", "clean up", "book",
    "order", "submit", "sign", "approve", "cancel", "renew", "migrate", "ship", "deploy",
    "release", "test", "document", "make sure", "try", "run", "file", "post", "upload",
    "install", "configure", "reset", "walk you through", "confirm", "note", "organize",
    "plan", "coordinate", "contact", "notify", "remind", "figure out", "investigate",
    "research", "compile", "summarize", "circulate", "publish", "merge", "push", "patch",
    "assign", "escalate", "sort out", "work on", "talk to", "talk with", "speak to",
    "speak with", "own", "decide", "present", "print", "loop in", "invite", "ask",
    "let you know", "let them know", "let him know", "let her know", "let everyone know",
    "let us know", "let me know", "follow", "ping", "call", "order", "pay", "transfer",
    "set up", "setup", "schedule", "arrange", "record", "track", "move", "change",
    "replace", "upgrade", "write up", "type up", "jot down", "flag", "report", "clear",
    "answer", "respond", "reply", "deliver", "provide", "collect", "gather", "train",
    "hire", "interview", "close", "open", "start", "kick off", "set", "put", "do a",
    "roll back", "rollback", "copy", "log", "grab", "bring", "buy", "drop",
)

# Phrases that commit someone to re-contact or meet: these make an action a follow-up.
FOLLOW_UP_PHRASES: tuple[str, ...] = (
    r"follow(?:ing)? ?up", r"followup", r"circle back", r"touch(?:ing)? base", r"check in",
    r"check(?:ing)? back", r"reach(?:ing)? out", r"get back to (?:you|me|us|them|him|her)",
    r"get back with", r"loop back", r"sync(?: up)?", r"reconnect", r"reconvene",
    r"(?:meet|talk|speak|chat|connect) again", r"catch up", r"(?:hop|jump|get) on a call",
    r"give (?:you|them|him|her) a (?:call|ring|buzz)", r"call you", r"ping you",
    r"(?:schedule|set up|setup|book|arrange|plan|organize|find) (?:a |an |some |another )?"
    r"(?:quick |short |follow up |followup |time |second )?(?:call|meeting|demo|sync|time|"
    r"check in|follow up|session|chat|touch point)",
    r"send (?:you |them |over |out )?(?:a |an )?(?:calendar )?(?:invite|invitation)",
    r"do a (?:quick )?(?:sync|call|check in|follow up|catch up)",
    r"meet (?:again|up|next|on|in|tomorrow|after)",
    r"(?:get|put) (?:something|a meeting|a call|time|it) on (?:the|your|our) calendars?",
)


@dataclass(frozen=True)
class Opener:
    """How an utterance starts when it commits someone to something.

    ``role`` says who is assigned: ``speaker``, ``listener``, ``named`` (a ``name`` group in
    the pattern) or ``group`` (we/let's: nobody in particular). ``follow_up_only`` openers
    ("can we ...") are questions unless the thing proposed is a meeting or contact.
    """

    pattern: str
    role: str
    confidence: float
    follow_up_only: bool = False
    # Explicit imperatives ("remember to ...") commit whatever verb follows.
    any_verb: bool = False


# Placeholder ``{NAME}`` is replaced with a name-shaped token that is not a stop word.
OPENERS: tuple[Opener, ...] = (
    Opener(r"(?:i'm going to |i'm gonna |i'll |i )?(?:need|want|would like) you to", "listener",
           0.85),
    Opener(r"i'd like you to", "listener", 0.85),
    Opener(r"(?:so )?the action item (?:is|will be|here is) for {NAME} to", "named", 0.9),
    Opener(r"{NAME}(?: and {NAME2})?(?:'s| is| are) (?:going to|gonna|supposed to)", "named",
           0.8),
    Opener(r"{NAME}(?: and {NAME2})? (?:will|needs to|need to|should|has to|have to)", "named",
           0.8),
    Opener(r"{NAME} (?:can|could|would|will) you(?: please)?", "named", 0.85),
    Opener(r"(?:can|could|would|will) you(?: please)?(?: mind)?", "listener", 0.85),
    Opener(r"would you mind", "listener", 0.85),
    Opener(r"please", "listener", 0.8),
    Opener(r"(?:make sure|don't forget|remember|be sure) (?:you |to )", "listener", 0.8,
           any_verb=True),
    Opener(r"go ahead and", "listener", 0.75),
    Opener(r"(?:you|you'll|you will) (?:need to|should|have to|must|want to|might want to|"
           r"gotta|got to)", "listener", 0.8),
    Opener(r"(?:i'll|i will|i'm going to|i'm gonna|i am going to|i am gonna|i can|let me|"
           r"i need to|i have to|i've got to|i gotta|i shall|i must|i'm about to)",
           "speaker", 0.85),
    Opener(r"(?:we|we'll|we will|we are|we're) (?:need to|have to|should|must|going to|"
           r"gonna|gotta|got to|need someone to)", "group", 0.8),
    Opener(r"(?:we'll|we will)", "group", 0.75),
    Opener(r"(?:someone|somebody|everyone|everybody) (?:needs to|should|has to|must)",
           "group", 0.75),
    Opener(r"(?:let's|lets|let us)", "group", 0.8),
    Opener(r"(?:can|could|shall|should) we", "group", 0.75, follow_up_only=True),
    Opener(r"we (?:can|could)", "group", 0.65, follow_up_only=True),
)

# Tokens that look like a name slot but are not people.
NOT_NAMES: tuple[str, ...] = (
    "i", "you", "we", "they", "he", "she", "it", "this", "that", "there", "the", "a", "an",
    "someone", "somebody", "everyone", "everybody", "nobody", "team", "which", "what", "who",
    "how", "why", "when", "where", "so", "and", "but", "or", "then", "it's", "that's",
    "he's", "she's", "they're", "we're", "you're", "i'm", "if", "because", "also", "maybe",
    "please", "now", "here", "just", "still", "really", "one", "people", "guys", "all",
    "these", "those", "some", "any", "our", "your", "my", "their", "his", "her", "its",
    "thing", "things", "time", "price", "it'll", "this'll", "that'll", "everything",
    "nothing", "something", "anything", "anyone", "do", "did", "does", "is", "are",
)

# Commitments that are idioms, not tasks: "i'll be honest", "i'll tell you what".
NOT_ACTIONS: tuple[str, ...] = (
    r"i'll be honest", r"tell you what", r"i will say", r"i'll say", r"i'll admit",
    r"should have", r"should've", r"would have", r"could have", r"let me think",
    r"let me see", r"let me guess", r"let me ask", r"let me be clear",
)
# fmt: on
