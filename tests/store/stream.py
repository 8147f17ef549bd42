"""Realistic result streams for the store's tests and benchmark.

Built with the gateway's own message builders (``gateway.protocols.symbl.messages``) and the
real insights engine, so the bodies are exactly what a live call publishes: lifecycle
results, each participant's partial and final ``recognition_result`` (kept from conversation
outputs by the store), ``message_response`` with words and sentiment, ``insight_response``
(questions, action items with assignee and due date, follow-ups), ``topic_response``,
``tracker_response`` and ``analytics_response``. """

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.insights import InsightsEngine, parse_insights_config
from gateway.outputs.result import Result
from gateway.protocols.symbl.messages import iso, message_response, recognition_result
from gateway.transcript import Phrase, Speaker, Word

START_REQUEST: dict[str, Any] = {
    "insightTypes": ["question", "action_item", "follow_up"],
    "config": {"confidenceThreshold": 0.5, "timezoneOffset": -480},
    "trackers": [{"name": "Competition", "vocabulary": ["Salesforce", "HubSpot"]},
                 {"name": "Pricing", "vocabulary": ["price", "too expensive", "discount"]}],
}

LINES = [
    (0, "hi alex thanks for joining the call today"),
    (1, "happy to be here sam"),
    (0, "are you guys using sales force or hub spot right now"),
    (1, "we use sales force but the renewal price is too expensive"),
    (0, "can you send me the current contract by friday"),
    (1, "sure i will send the contract tomorrow morning"),
    (0, "the renewal price could drop if we sign for two years"),
    (1, "that sounds great i love that idea"),
    (0, "let's schedule a follow up call next week to go over the pricing"),
    (1, "this is terrible news about the outage though"),
]
WORD_SECONDS = 0.32
PAUSE_SECONDS = 0.9


@dataclass
class Conversation:
    """A conversation's results in publish order, and who took part."""

    id: str
    results: list[Result]
    speakers: list[Speaker]
    started: datetime
    tenant: str | None = None
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def bodies(self, kind: str) -> list[Mapping[str, Any]]:
        return [r.body for r in self.results if r.body.get("type") == kind]


class _Publisher:
    def __init__(self, conversation_id: str, started: datetime) -> None:
        self.cid = conversation_id
        self.seq = 0
        self.started = started
        self.results: list[Result] = []

    def publish(self, body: Mapping[str, Any], at_offset: float, **kw: Any) -> None:
        self.seq += 1
        at = (self.started + timedelta(seconds=at_offset)).timestamp()
        self.results.append(Result.of(self.cid, body, self.seq, at=at, **kw))


def _phrase(speaker: Speaker, text: str, start: float) -> Phrase:
    words = []
    t = start
    for i, word in enumerate(text.split()):
        words.append(Word(word, round(t, 2), round(t + WORD_SECONDS - 0.04, 2),
                          0.9 + 0.01 * (i % 10)))
        t += WORD_SECONDS
    return Phrase(str(uuid.uuid4()), text, speaker, words[0].start, words[-1].end, tuple(words))


def build_conversation(conversation_id: str, *, started: datetime, title: str | None = "Renewal",
                       tenant: str | None = None, lines: int = len(LINES),
                       ended: bool = True) -> Conversation:
    """One two-person call: ``lines`` phrases (cycling through LINES) and all its results."""
    speakers = [Speaker("sam@example.com", "Sam Lee", str(uuid.uuid4())),
                Speaker("alex@example.com", "Alex Kim", str(uuid.uuid4()))]
    out = _Publisher(conversation_id, started)
    started_body: dict[str, Any] = {"type": "conversation_started",
                                    "conversationId": conversation_id,
                                    "meetingTitle": title, "startTime": iso(started)}
    if tenant is not None:
        started_body["tenantId"] = tenant
    out.publish(started_body, 0.0, kind="lifecycle")
    engine = InsightsEngine(parse_insights_config(START_REQUEST), started)
    for speaker in speakers:
        engine.add_participant(speaker)
        out.publish({"type": "participant_joined", "conversationId": conversation_id,
                     "participant": speaker.to_json(), "at": iso(started, 0.05)},
                    0.05, kind="lifecycle")
    clock = 0.5
    for n in range(lines):
        who, text = LINES[n % len(LINES)]
        speaker = speakers[who]
        phrase = _phrase(speaker, text, clock)
        half = " ".join(text.split()[: max(1, len(text.split()) // 2)])
        partial = engine.punctuate(half, final=False)
        out.publish(recognition_result(transcript=half, punctuated=partial, is_final=False,
                                       speaker=speaker),
                    phrase.start + 0.5, origin=speaker.id, audience="participant")
        analysis = engine.feed(phrase)
        out.publish(recognition_result(transcript=text, punctuated=analysis.content, is_final=True,
                                       speaker=speaker, confidence=phrase.confidence,
                                       words=phrase.words),
                    phrase.end + 0.3, origin=speaker.id, audience="participant")
        out.publish(message_response(phrase, content=analysis.content, stream_start=started,
                                     sentiment=analysis.sentiment), phrase.end + 0.3,
                    origin=speaker.id)
        for body in analysis.messages:
            out.publish(body, phrase.end + 0.31, origin=speaker.id)
        if n % 4 == 3 and (report := engine.analytics()) is not None:
            out.publish(report, phrase.end + 0.32)
        clock = phrase.end + PAUSE_SECONDS
    if ended:
        for body in engine.finish():
            out.publish(body, clock)
        for speaker in speakers:
            out.publish({"type": "participant_left", "conversationId": conversation_id,
                         "participant": speaker.to_json(), "at": iso(started, clock + 0.1)},
                        clock + 0.1, kind="lifecycle")
        out.publish({"type": "conversation_ended", "conversationId": conversation_id,
                     "endTime": iso(started, clock + 0.2)}, clock + 0.2, kind="lifecycle")
    return Conversation(conversation_id, out.results, speakers, started, tenant, title)


def with_id(template: Conversation, conversation_id: str, *, started: datetime,
            tenant: str | None = None) -> Conversation:
    """The same call under another id and start time (cheap copies for load tests).

    Message and insight ids repeat across copies, which the store allows: they are unique
    per conversation, as Symbl's were.
    """
    shift = started - template.started
    results = []
    for r in template.results:
        body: Mapping[str, Any] = r.body
        if r.kind == "lifecycle":
            copy = dict(body, conversationId=conversation_id)
            for key in ("startTime", "endTime", "at"):
                if key in copy:
                    copy[key] = iso(datetime.fromisoformat(copy[key]) + shift)
            if copy["type"] == "conversation_started" and tenant is not None:
                copy["tenantId"] = tenant
            body = copy
        elif body.get("type") == "message_response":
            body = {**body, "messages": [
                {**m, "duration": {k: iso(datetime.fromisoformat(v) + shift)
                                   for k, v in m["duration"].items()}}
                for m in body["messages"]]}
        results.append(Result.of(conversation_id, body, r.seq, origin=r.origin,
                                 audience=r.audience, kind=r.kind,
                                 at=r.at + shift.total_seconds()))
    return Conversation(conversation_id, results, template.speakers, started, tenant,
                        template.title)
