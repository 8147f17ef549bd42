"""The TURN Allocate exchange with long-term credentials, and freeing the allocation.

This is the one real operation behind every TURN check: a client can only relay once an
Allocate succeeds, so succeeding at it (RFC 8656 section 7, with the RFC 8489 long-term
credential mechanism: a 401 challenge carrying REALM and NONCE, then a signed request) is
the proof that the secret, the realm and the server all work. The allocation is released
at once so a check never holds a relay port.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from aioice import stun

from .diagnosis import error_code, refusal
from .stun_transport import StunSession

__all__ = ["allocate"]

logger = logging.getLogger(__name__)

_UDP_TRANSPORT = 17 << 24  # REQUESTED-TRANSPORT value for UDP (RFC 8656 section 14.7)


async def allocate(session: StunSession, username: str, password: str) -> None:
    """Run the Allocate exchange (challenge, then authenticated request); raise on refusal."""
    url = session.url

    def allocate_request() -> stun.Message:
        request = stun.Message(
            message_method=stun.Method.ALLOCATE, message_class=stun.Class.REQUEST
        )
        request.attributes["LIFETIME"] = 60
        request.attributes["REQUESTED-TRANSPORT"] = _UDP_TRANSPORT
        return request

    response = await session.request(allocate_request())
    if response.message_class == stun.Class.RESPONSE:
        logger.warning("TURN server %s allocated without authentication: it is an open relay", url)
        await _release(session, None, None, None, None)
        return
    code, text = error_code(response)
    if code != 401 or "NONCE" not in response.attributes or "REALM" not in response.attributes:
        raise refusal(url, username, code, text)

    realm = str(response.attributes["REALM"])
    nonce = response.attributes["NONCE"]
    key = hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()
    for _attempt in range(2):  # a 438 Stale Nonce is answered once with the new nonce
        request = allocate_request()
        request.attributes["USERNAME"] = username
        request.attributes["REALM"] = realm
        request.attributes["NONCE"] = nonce
        request.add_message_integrity(key)
        response = await session.request(request)
        if response.message_class == stun.Class.RESPONSE:
            await _release(session, username, realm, response.attributes.get("NONCE", nonce), key)
            return
        code, text = error_code(response)
        if code == 438 and "NONCE" in response.attributes:
            nonce = response.attributes["NONCE"]
            continue
        break
    raise refusal(url, username, code, text)


async def _release(
    session: StunSession, username: str | None, realm: str | None, nonce: object, key: bytes | None
) -> None:
    """Free the test allocation right away instead of letting it occupy a relay port."""
    request = stun.Message(message_method=stun.Method.REFRESH, message_class=stun.Class.REQUEST)
    request.attributes["LIFETIME"] = 0
    if username is not None and key is not None:
        request.attributes["USERNAME"] = username
        request.attributes["REALM"] = realm
        request.attributes["NONCE"] = nonce
        request.add_message_integrity(key)
    try:
        await asyncio.wait_for(session.request(request), 0.5)
    except (TimeoutError, OSError) as exc:
        logger.debug("TURN check: releasing the allocation on %s failed: %r", session.url, exc)
