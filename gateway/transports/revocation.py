"""Ending the live sessions of an app that was revoked, whatever carries them.

Tokens are checked when a session opens; a call or a Symbl stream then runs for as long as
it lasts. When ``gateway apps revoke`` takes an app away, the access control asks this
module (``AccessControl.on_revoked``) to end that app's sessions on every transport
(``LiveSessions``: WebRTC, WHIP, the Symbl WebSocket). A session that can say why in its own
wire format has ``revoke(why)`` (an ``app_revoked`` error, then the close); any other
(WHIP, which has no message channel) is stopped. Sockets that hold no session (consoles,
subscribers) are ended by their lease (``gateway.auth.entrances.bind_to_handler``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from gateway.observability.live import LiveSessions

log = logging.getLogger(__name__)

WHY = "the app this session's token belongs to was revoked"


def app_of(session: Any) -> str | None:
    """The app a session's token belongs to (None: open mode, nobody to revoke)."""
    principal = getattr(session, "principal", None)
    if principal is None or getattr(principal, "anonymous", True):
        return None
    return str(principal.subject)


async def end_revoked_sessions(live: LiveSessions, revoked: Callable[[str], bool]) -> int:
    """End every live session whose app ``revoked`` selects; how many were ended."""
    doomed = [(transport, session) for transport, session in live.items()
              if (app := app_of(session)) is not None and revoked(app)]
    for transport, session in doomed:
        log.warning("ending %s session %s: app %s was revoked", transport, session.id,
                    app_of(session))
    results = await asyncio.gather(*(_end(session) for _, session in doomed),
                                   return_exceptions=True)
    for (transport, session), result in zip(doomed, results, strict=True):
        if isinstance(result, Exception):
            log.error("ending revoked %s session %s failed: %r", transport, session.id, result)
    return len(doomed)


async def _end(session: Any) -> None:
    revoke = getattr(session, "revoke", None)
    if revoke is not None:
        await revoke(WHY)
    else:
        await session.stop()
