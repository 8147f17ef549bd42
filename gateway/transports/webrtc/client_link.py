"""A session's side of its client: where its signaling messages go, and whether it is there.

Messages a session sends on its own (presence, relayed ``peer`` messages, errors about its
media) go to the client's current signaling connection. A client that asked for ``resume``
may lose that connection and come back on another: meanwhile the session is *away*
(``resume.Absence``: a grace period), ordered messages wait in the ``Outbox``, and a resume
hands them to the new connection after a fresh presence ``snapshot`` (the presence messages
it replaces are dropped; ``peer`` messages are kept).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.conversation.member import Member
from signaling.interface import Notify

from .outbox import Outbox
from .presence import PresenceLink, is_presence
from .resume import Absence, Part, new_token

log = logging.getLogger(__name__)


class ClientLink:
    def __init__(self, notify: Notify, label: str) -> None:
        self.label = label
        self._send: Notify | None = notify  # None while the client is away
        self.outbox = Outbox(self.notify, label)
        self.presence: PresenceLink | None = None
        self.token = new_token()
        self.absence: Absence | None = None  # set when the client asked for "resume"
        self.answered = False

    @property
    def can_resume(self) -> bool:
        """The client asked for resume and has its token (the answer went out)."""
        return self.absence is not None and self.answered

    async def notify(self, message: dict[str, Any]) -> None:
        """Send to the current connection; nothing while the client is away."""
        send = self._send
        if send is not None:
            await send(message)

    def enable_resume(self, grace: float, *, on_change: Callable[[bool], None],
                      on_expired: Callable[[], None]) -> None:
        self.absence = Absence(grace, on_change=on_change, on_expired=on_expired)

    def listen(self, member: Member) -> None:
        """Tell the client about the other participants (the ``presence`` feature)."""
        self.presence = PresenceLink(member, self.outbox)

    def open(self) -> None:
        """The answer (or a resume's reply) went out: ordered messages may follow."""
        self.answered = True
        self.outbox.open()

    def away(self, part: Part) -> None:
        if self.absence is not None:
            self.absence.away(part)

    def detach(self) -> None:
        """The signaling connection went away; the client may come back."""
        assert self.absence is not None
        self._send = None
        self.outbox.pause()
        log.info("session %s: signaling away; waiting up to %.0f s for a resume", self.label,
                 self.absence.remaining)
        self.absence.away("signaling")

    def attach(self, notify: Notify) -> None:
        """A resumed connection: it gets a fresh snapshot, then what still matters."""
        assert self.absence is not None
        self._send = notify
        self.absence.back("signaling")
        self.absence.back("media")
        snapshot = [self.presence.snapshot()] if self.presence is not None else []
        self.outbox.rebind(self.notify, keep=lambda m: not is_presence(m), first=snapshot)

    async def close(self) -> None:
        if self.absence is not None:
            self.absence.cancel()
        await self.outbox.close()
