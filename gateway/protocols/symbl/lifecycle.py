"""Symbl's connection notices: the ``{"type": "message", "message": {...}}`` envelopes.

Every Symbl client dispatches on ``data.type == "message"`` and then ``data.message.type``
(JS SDK ``RealtimeApi.onMessageWebSocket``, Go SDK ``router.handlePlatformMessage``, Python
SDK ``StreamingConnection.__listen_to_events``), so these shapes are exact. What each client
needs from them decides the order the transport sends them in:

1. :func:`started_listening` — the JS SDK's ``createStream().start()`` resolves on it.
2. :func:`conversation_created` — ``data.conversationId``; the Python and web SDKs take
   the id from here.
3. :func:`recognition_started` — also carries ``data.conversationId``: the JS SDK's
   ``startRealtimeRequest`` resolves with it (web SDK: "Processing Started Response").

After ``stop_request``, once the last results are out: :func:`conversation_completed`, then
:func:`recognition_stopped`. That order matters: the JS SDK closes its own socket on the
first of the two it sees, and its legacy ``connection.stop()`` resolves only with
``conversation_completed``'s body.
"""

from __future__ import annotations

from typing import Any

from .audio_format import AudioFormat

__all__ = [
    "conversation_completed",
    "conversation_created",
    "recognition_started",
    "recognition_stopped",
    "session_modified",
    "started_listening",
]

Message = dict[str, Any]


def _envelope(inner: Message) -> Message:
    return {"type": "message", "message": inner}


def started_listening() -> Message:
    return _envelope({"type": "started_listening"})


def conversation_created(conversation_id: str) -> Message:
    """``{"type":"message","message":{"type":"conversation_created","data":{…}}}``."""
    return _envelope({"type": "conversation_created", "data": {"conversationId": conversation_id}})


def recognition_started(conversation_id: str) -> Message:
    return _envelope({"type": "recognition_started", "data": {"conversationId": conversation_id}})


def recognition_stopped() -> Message:
    """As the reference shows it: no body (web SDK "processing_stopped": callback data None)."""
    return _envelope({"type": "recognition_stopped"})


def conversation_completed(conversation_id: str, summary_url: str | None = None) -> Message:
    """The conversation is over.

    The web SDK documents ``conversationId`` (and ``summaryUrl``) on the message itself; the
    Go SDK reads ``message.data.conversationId``. Both are sent. ``summaryUrl`` pointed at
    Symbl's hosted summary page; it is included only when the gateway has a page to offer.
    """
    inner: Message = {
        "type": "conversation_completed",
        "conversationId": conversation_id,
        "data": {"conversationId": conversation_id},
    }
    if summary_url is not None:
        inner["summaryUrl"] = summary_url
    return _envelope(inner)


def session_modified(audio: AudioFormat) -> Message:
    """The answer to an accepted ``modify_request`` (Symbl never documented one; SDKs log it)."""
    return _envelope({
        "type": "session_modified",
        "data": {"speechRecognition": {"encoding": audio.encoding,
                                       "sampleRateHertz": audio.sample_rate}},
    })
