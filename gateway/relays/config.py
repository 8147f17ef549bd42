"""The relay settings a deployment chooses (flags and environment: gateway/relays/flags.py).

Kept free of imports beyond the standard library, so ``GatewayConfig`` can hold it without
pulling the protocol modules into every import of the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .targets import Target

AsrEndpoint = Literal["auto", "reset", "eof"]
BUFFER_SECONDS = 10.0
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Downstreams configured for every session, the allow-list for client-named URLs,
    the replay buffer, and the remote recognisers (``--asr``)."""

    downstreams: tuple[Target, ...] = ()
    allow: tuple[str, ...] = ()
    buffer_seconds: float = BUFFER_SECONDS
    connect_timeout: float = CONNECT_TIMEOUT
    asr: tuple[str, ...] = ()
    asr_endpoint: AsrEndpoint = "auto"

    def named(self, name: str) -> Target | None:
        return next((t for t in self.downstreams if t.label == name), None)
