"""Downstream protocols: the gateway's audio (and results) to WebSocket services, one module
per wire format, one interface (base.DownstreamProtocol).

``make_protocol(name, info, **options)`` builds one stream's protocol from a configured
name; unknown names and options a specification forbids raise ``ProtocolConfigError``
(a ``ValueError``), so a bad deployment flag or client start config gets a clear error.
"""

from __future__ import annotations

from typing import Any

from .base import (
    AudioChunk,
    DownstreamProtocol,
    Frame,
    MixedChunk,
    ProtocolBase,
    ProtocolConfigError,
    StreamInfo,
)
from .jambonz import JambonzDownstream
from .mixer import ConversationMixer
from .results import ResultsRelay
from .symbl import SymblDownstream
from .twilio import TwilioDownstream
from .vosk import VoskDownstream

PROTOCOLS: dict[str, type[ProtocolBase]] = {
    cls.name: cls
    for cls in (SymblDownstream, VoskDownstream, TwilioDownstream, JambonzDownstream,
                ResultsRelay)
}


def make_protocol(name: str, info: StreamInfo, **options: Any) -> ProtocolBase:
    """The protocol ``name`` for one stream; options are the protocol's keyword arguments
    (``label``, ``tracks``, ``mix_type``, ``start``, ``words``, …)."""
    cls = PROTOCOLS.get(name)
    if cls is None:
        raise ProtocolConfigError(
            f"unknown downstream protocol {name!r} (known: {', '.join(sorted(PROTOCOLS))})")
    try:
        return cls(info, **options)
    except TypeError as exc:  # an option this protocol does not have
        raise ProtocolConfigError(f"{name}: {exc}") from exc


__all__ = [
    "PROTOCOLS",
    "AudioChunk",
    "ConversationMixer",
    "DownstreamProtocol",
    "Frame",
    "JambonzDownstream",
    "MixedChunk",
    "ProtocolBase",
    "ProtocolConfigError",
    "ResultsRelay",
    "StreamInfo",
    "SymblDownstream",
    "TwilioDownstream",
    "VoskDownstream",
    "make_protocol",
]
