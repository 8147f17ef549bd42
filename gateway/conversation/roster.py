"""Who is in a conversation, and telling the participants about each other.

A participant is *present* from joining until it departs: it hung up (``left``) or its
connection went away (``dropped``). Departing is announced to the others at once, although
the member stays in the conversation a little longer while its last audio is recognised and
its closing results are delivered; capacity counts only present participants, so someone who
reloads the page can rejoin a two-person call while their old session is still flushing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .presence import (
    LeaveReason,
    Participant,
    PeerUnsupported,
    PresenceEvent,
    PresenceKind,
    UnknownParticipant,
)

if TYPE_CHECKING:
    from .member import Member


class Roster:
    def __init__(self) -> None:
        self.members: dict[str, Member] = {}  # present and departing, in joining order
        self._departed: set[str] = set()

    def __len__(self) -> int:
        """Present participants (departing ones excluded)."""
        return len(self.members) - len(self._departed)

    def present(self, member: Member) -> bool:
        return self.members.get(member.id) is member and member.id not in self._departed

    def participants(self, exclude: Member | None = None) -> list[Participant]:
        """The present participants but ``exclude``, in joining order."""
        return [m.participant for m in self.members.values()
                if m is not exclude and m.id not in self._departed]

    def add(self, member: Member) -> None:
        self.members[member.id] = member
        self._tell("joined", member, exclude=member)

    def depart(self, member: Member, reason: LeaveReason) -> bool:
        """Announce that ``member`` is gone (once); False if it already was."""
        if not self.present(member):
            return False
        self._departed.add(member.id)
        self._tell("left", member, exclude=member, reason=reason)
        return True

    def discard(self, member: Member) -> None:
        if self.members.get(member.id) is member:
            del self.members[member.id]
            self._departed.discard(member.id)

    def set_muted(self, member: Member, muted: bool) -> bool:
        """Record the state; tell everyone of a change, or the member alone of no change
        (its acknowledgement). Returns whether it changed."""
        if not self.present(member):
            return False
        changed = member.muted != muted
        member.muted = muted
        if changed:
            self._tell("state", member)
        elif member.listener is not None:
            member.listener.presence(PresenceEvent("state", member.participant, _now()))
        return changed

    def relay(self, sender: Member, to: str, data: Mapping[str, Any]) -> None:
        """Hand ``data`` from one present participant to another; ``UnknownParticipant``
        when there is no such other, ``PeerUnsupported`` when its client takes none."""
        target = self.members.get(to)
        if target is None or target is sender or not self.present(target) \
                or not self.present(sender):
            raise UnknownParticipant(to)
        if not target.accepts_peer:
            raise PeerUnsupported(to)
        if target.listener is not None:
            target.listener.peer_message(sender.id, data)

    def _tell(self, kind: PresenceKind, member: Member, *, exclude: Member | None = None,
              reason: LeaveReason | None = None) -> None:
        event = PresenceEvent(kind, member.participant, _now(), reason)
        for other in list(self.members.values()):
            if other is not exclude and other.listener is not None \
                    and other.id not in self._departed:
                other.listener.presence(event)


def _now() -> datetime:
    return datetime.now(UTC)
