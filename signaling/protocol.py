"""Signaling messages: parsing and validation of what the client sends.

Every rejection is a ``ProtocolError`` with a stable ``code`` (documented in
docs/protocol.md) and a message a developer can act on. Nothing here touches a session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .interface import Answer, RemoteCandidate, Resumed

# Large enough for any real SDP offer (Chrome's audio+data offer is ~3-6 KB, with many
# candidates ~10 KB), small enough that a client cannot make us parse megabytes.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_CANDIDATE_CHARS = 1024
# A browser's audio offer or answer is 2-6 KB with its candidates; a trickled candidate
# ~300 bytes. Room for that with margin; the receiver is protected from anything larger.
MAX_PEER_DATA_BYTES = 16 * 1024
MAX_PARTICIPANT_ID_CHARS = 128
MAX_SESSION_ID_CHARS = 128
MAX_TOKEN_CHARS = 256
# JSON numbers above 2**53 lose precision in JavaScript: no client can mean one as a seq.
MAX_SEQ = 2**53

PROTOCOL_VERSION = 1
# Additions within version 1 that a client may rely on when the server lists them in
# ``hello``; clients that do not know them ignore the messages they bring.
FEATURES = ("presence", "peer", "mute", "resume")


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Offer:
    sdp: str
    config: Mapping[str, Any]
    # What the client asks for of FEATURES: with "presence" it is told about the others,
    # with "peer" it takes their messages. Without them the session is as in version 1.0.
    features: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    candidate: RemoteCandidate


@dataclass(frozen=True, slots=True)
class Bye:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Peer:
    """A message for another participant (browser-to-browser negotiation), relayed as is."""

    to: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Mute:
    muted: bool


@dataclass(frozen=True, slots=True)
class Resume:
    """Continue session ``session_id`` on this connection (instead of an offer).

    ``token`` is the ``resumeToken`` of its answer; ``last_seq`` the highest ``seq`` the
    client received on its data channel; ``sdp`` a new offer when its media connection is
    gone (a new peer connection continuing the same recognition), else None.
    """

    session_id: str
    token: str
    last_seq: int = 0
    sdp: str | None = None


ClientMessage = Offer | Candidate | Bye | Ping | Peer | Mute | Resume


def hello(session_id: str, ice_servers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "hello",
        "sessionId": session_id,
        "iceServers": ice_servers,
        "protocolVersion": PROTOCOL_VERSION,
        "features": list(FEATURES),
    }


def answer(reply: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "answer", "sdp": reply.sdp}
    if reply.conversation_id is not None:
        message["conversationId"] = reply.conversation_id
    if reply.resume_token is not None:
        message["resumeToken"] = reply.resume_token
        message["resumeGrace"] = reply.resume_grace
    return message


def resumed(reply: Resumed) -> dict[str, Any]:
    """The reply to a successful ``resume``; ``sdp`` (the answer) only when it offered."""
    message: dict[str, Any] = {"type": "resumed", "sessionId": reply.session_id,
                               "conversationId": reply.conversation_id,
                               "replayed": reply.replayed, "missed": reply.missed,
                               "resumeGrace": reply.grace}
    if reply.sdp is not None:
        message["sdp"] = reply.sdp
    return message


def error(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    for observer in tuple(_error_observers):
        observer(code)
    return {**(details or {}), "type": "error", "code": code, "message": message}


ErrorObserver = Callable[[str], None]
_error_observers: set[ErrorObserver] = set()


def observe_errors(observer: ErrorObserver) -> None:
    """Call ``observer(code)`` for every ``error`` message built here, so a host can count them.

    Every error a signaling client is told about is built by ``error`` (protocol errors such
    as ``bad_json`` or ``unknown_type``, refusals, and what sessions report), so this one hook
    sees them all, whichever carrier sends them, without signaling importing the host's
    metrics. Registering the same observer twice counts once; an observer must not raise.
    """
    _error_observers.add(observer)


def reconnect(reason: str, within: float, message: str) -> dict[str, Any]:
    """Ask the client to move its call: this session ends within ``within`` seconds.

    Informational: the session goes on until the client says ``bye`` or the time is up (then
    the ordinary end: last results, ``bye``/close). ``reason`` is a stable code (``draining``:
    the node is shutting down). Sent only to clients that asked for ``resume``; clients that
    do not know the type ignore it.
    """
    return {"type": "reconnect", "reason": reason, "within": within, "message": message}


def _field(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], name: str) -> Any:
    if key not in data:
        raise ProtocolError("missing_field", f"'{key}' is required in a {name} message")
    value = data[key]
    # bool is an int in Python; JSON true is never a valid index or string.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ProtocolError("invalid_field", f"'{key}' must be {_kind_name(kind)}, got boolean")
    if not isinstance(value, kind):
        raise ProtocolError(
            "invalid_field", f"'{key}' must be {_kind_name(kind)}, got {_json_type(value)}"
        )
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", dict: "an object", type(None): "null",
             bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean", int: "number", float: "number", str: "string", list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def parse(text: str) -> ClientMessage:
    """Turn one WebSocket text frame into a typed message or raise ``ProtocolError``."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "message_too_large", f"messages are limited to {MAX_MESSAGE_BYTES} bytes"
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError also covers valid JSON Python refuses, e.g. integers over 4300 digits.
        raise ProtocolError("bad_json", f"message is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", f"message must be a JSON object, got {_json_type(data)}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "message needs a string 'type' field")
    if kind == "offer":
        sdp = _field(data, "sdp", str, "offer")
        if not sdp.strip():
            raise ProtocolError("invalid_field", "'sdp' must not be empty")
        config = data.get("config")
        if config is None:
            config = {}
        elif not isinstance(config, dict):
            raise ProtocolError(
                "invalid_field", f"'config' must be an object, got {_json_type(config)}"
            )
        return Offer(sdp=sdp, config=config, features=_parse_features(data))
    if kind == "candidate":
        return Candidate(_parse_candidate(data))
    if kind == "bye":
        return Bye()
    if kind == "ping":
        return Ping()
    if kind == "peer":
        return _parse_peer(data)
    if kind == "mute":
        return Mute(_field(data, "muted", bool, "mute"))
    if kind == "resume":
        return _parse_resume(data)
    raise ProtocolError("unknown_type", f"unknown message type '{kind[:64]}'")


def _parse_candidate(data: Mapping[str, Any]) -> RemoteCandidate:
    if "candidate" not in data:
        raise ProtocolError("missing_field", "'candidate' is required (null ends candidates)")
    value = data["candidate"]
    if value is not None and not isinstance(value, str):
        raise ProtocolError(
            "invalid_field", f"'candidate' must be a string or null, got {_json_type(value)}"
        )
    if value is not None and len(value) > MAX_CANDIDATE_CHARS:
        raise ProtocolError("invalid_field", "'candidate' is too long")
    mid = data.get("sdpMid")
    if mid is not None and not isinstance(mid, str):
        raise ProtocolError("invalid_field", f"'sdpMid' must be a string, got {_json_type(mid)}")
    index = data.get("sdpMLineIndex")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise ProtocolError(
            "invalid_field", f"'sdpMLineIndex' must be an integer, got {_json_type(index)}"
        )
    if value and mid is None and index is None:
        raise ProtocolError("missing_field", "a candidate needs 'sdpMid' or 'sdpMLineIndex'")
    return RemoteCandidate(candidate=value or None, sdp_mid=mid, sdp_mline_index=index)


def _parse_features(data: Mapping[str, Any]) -> frozenset[str]:
    """The offer's ``features``: strings; names this server does not know are ignored."""
    value = data.get("features")
    if value is None:
        return frozenset()
    if not isinstance(value, list) or len(value) > 32 \
            or not all(isinstance(v, str) for v in value):
        raise ProtocolError("invalid_field", "'features' must be an array of at most 32 "
                            f"strings, e.g. {list(FEATURES)}")
    return frozenset(value) & frozenset(FEATURES)


def _parse_peer(data: Mapping[str, Any]) -> Peer:
    to = _field(data, "to", str, "peer")
    if not 0 < len(to) <= MAX_PARTICIPANT_ID_CHARS:
        raise ProtocolError("invalid_field",
                            f"'to' must be a participant id of 1-{MAX_PARTICIPANT_ID_CHARS} "
                            "characters")
    body = _field(data, "data", dict, "peer")
    size = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_PEER_DATA_BYTES:
        raise ProtocolError("peer_data_too_large",
                            f"'data' is {size} bytes; at most {MAX_PEER_DATA_BYTES} are relayed")
    return Peer(to=to, data=body)


def _parse_resume(data: Mapping[str, Any]) -> Resume:
    session_id = _field(data, "sessionId", str, "resume")
    if not 0 < len(session_id) <= MAX_SESSION_ID_CHARS:
        raise ProtocolError("invalid_field", "'sessionId' must be the sessionId of the session "
                            f"to resume (1-{MAX_SESSION_ID_CHARS} characters)")
    token = _field(data, "resumeToken", str, "resume")
    if not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise ProtocolError("invalid_field", "'resumeToken' must be the resumeToken of the "
                            "session's answer")
    last_seq = data.get("lastSeq", 0)
    if last_seq is None:
        last_seq = 0
    if isinstance(last_seq, bool) or not isinstance(last_seq, int) \
            or not 0 <= last_seq <= MAX_SEQ:
        raise ProtocolError("invalid_field", "'lastSeq' must be an integer from 0 (the highest "
                            "'seq' received on the data channel)")
    sdp = data.get("sdp")
    if sdp is not None and (not isinstance(sdp, str) or not sdp.strip()):
        raise ProtocolError("invalid_field", "'sdp' must be a new offer's SDP, or absent to "
                            "keep the media connection")
    return Resume(session_id=session_id, token=token, last_seq=last_seq, sdp=sdp)
