"""What Symbl's streaming socket sends: the conversation's results, and its own notices.

A Symbl connection hears two kinds of text frames, all JSON (Symbl's snippets
``JSON.parse`` every message):

* the conversation's results for its participant, exactly as every other output gets them
  (``recognition_result``, ``message_response``, ``insight_response``, ``topic_response``,
  ``tracker_response``, analytics): :func:`serialize`;
* the connection's notices, which follow the *socket's* protocol rather than the
  conversation's: ``started_listening``, ``conversation_created`` and ``recognition_started``
  answer every accepted ``start_request`` at once (the JS SDK's ``startRealtimeRequest``
  resolves on ``recognition_started``, often before the client sends any audio), and
  ``conversation_completed`` then ``recognition_stopped`` answer ``stop_request``. The
  conversation publishes its own ``conversation_created``/``recognition_started`` when the
  participant's audio starts and ``recognition_stopped`` when it leaves, for the data channel
  and consoles; on this socket those would be duplicates at the wrong moments, so they are
  left out and the transport sends :func:`greeting` and :func:`farewell` itself.

The gateway's own lifecycle events (``conversation_started``, ``participant_joined``…) are
not Symbl messages and never reach a Symbl client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.outputs.result import Result, to_json

from . import lifecycle

__all__ = ["CONNECTION_NOTICES", "encode", "farewell", "greeting", "serialize"]

CONNECTION_NOTICES = frozenset({"conversation_created", "recognition_started",
                                "recognition_stopped"})


def serialize(result: Result) -> str | None:
    """A result as the participant's Symbl socket sends it; None for what it leaves out."""
    if result.kind != "symbl":
        return None
    if result.audience == "participant" and result.type in CONNECTION_NOTICES:
        return None
    return result.text


def encode(body: Mapping[str, Any]) -> str:
    """A message the transport sends itself (notices, errors), in the one JSON encoding."""
    return to_json(body)


def greeting(conversation_id: str) -> list[str]:
    """The answer to an accepted ``start_request``, in the order every SDK accepts."""
    return [encode(lifecycle.started_listening()),
            encode(lifecycle.conversation_created(conversation_id)),
            encode(lifecycle.recognition_started(conversation_id))]


def farewell(conversation_id: str) -> list[str]:
    """The last words after ``stop_request``: ``conversation_completed`` *before*
    ``recognition_stopped`` (the JS SDK closes its socket on the first of the two, and its
    legacy ``stop()`` resolves only with ``conversation_completed``)."""
    return [encode(lifecycle.conversation_completed(conversation_id)),
            encode(lifecycle.recognition_stopped())]
