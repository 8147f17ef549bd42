"""Open conversations whose gateway died: closed by a lease that live gateways renew.

A conversation is *open* in the store (``endTime`` null) from its first result until its
``conversation_ended``. A gateway killed in between (``kill -9``, out of memory, a power
cut) never writes that end, and the conversation would stay open for ever: shown as live,
and never ended for anyone reading the Conversation API. So every gateway with a store
renews ``alive_ms`` on the conversations it has live, every ``alive_interval`` seconds, and
in the same transaction closes the open conversations that nobody renewed and nothing was
written to for ``abandoned_after`` seconds. Their ``endTime`` becomes the last thing known
of them (the later of their last write and their last renewal), and members still present
leave at that moment.

Only the database takes part, so the rule holds for one gateway restarted after a crash,
for a cluster (whichever node continues a conversation renews it) and for several gateways
sharing one PostgreSQL without Redis. A closed conversation that comes back (a resume taken
over by another node) is reopened by its ``conversation_started``, like any id used again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from sqlalchemy import Connection, and_, case, or_, select, update

from gateway.tasks import every

from .schema import conversations, participants

log = logging.getLogger(__name__)
T = TypeVar("T")
Command = Callable[[Callable[[Connection], T]], Awaitable[T]]

CLOSE_LIMIT = 500  # abandoned conversations closed per round (bounds one transaction)


@dataclass(frozen=True, slots=True)
class Swept:
    """What one round did: conversations renewed (live here) and closed (abandoned)."""

    renewed: int
    closed: list[str]


def sweep(connection: Connection, live: Collection[str], *, now_ms: int,
          cutoff_ms: int) -> Swept:
    """Renew ``live``, then close the open conversations quiet since before ``cutoff_ms``.

    Runs in the store's writer, ordered with the results: a conversation that ended before
    this round already has its end, and one that is live here is renewed before the close
    looks at it, so a live conversation is never closed by its own gateway.
    """
    c = conversations.c
    renewed = 0
    ids = list(live)
    for start in range(0, len(ids), CLOSE_LIMIT):  # bounded IN lists
        done = connection.execute(update(conversations).where(
            c.id.in_(ids[start:start + CLOSE_LIMIT]), c.end_ms.is_(None)).values(alive_ms=now_ms))
        renewed += done.rowcount
    quiet = and_(c.end_ms.is_(None), c.updated_ms < cutoff_ms,
                 or_(c.alive_ms.is_(None), c.alive_ms < cutoff_ms))
    rows = connection.execute(select(c.id, c.updated_ms, c.alive_ms).where(quiet)
                              .order_by(c.updated_ms).limit(CLOSE_LIMIT)).all()
    for cid, updated_ms, alive_ms in rows:
        end_ms = max(updated_ms, alive_ms or 0)
        connection.execute(update(conversations).where(c.id == cid, quiet)
                           .values(end_ms=end_ms))
        p = participants.c
        connection.execute(update(participants).where(
            p.conversation_id == cid, p.left_ms.is_(None)).values(
            left_ms=case((p.joined_ms > end_ms, p.joined_ms), else_=end_ms)))
    return Swept(renewed, [row[0] for row in rows])


class Liveness:
    """The renew-and-close round of one gateway, every ``interval`` seconds from start.

    ``live()`` names the conversations this gateway has live (its directory); ``command``
    runs a function in the store's writer, after the results queued before it.
    """

    def __init__(self, command: Command[Swept], live: Callable[[], Collection[str]], *,
                 interval: float, abandoned_after: float) -> None:
        self._command = command
        self._live = live
        self.interval = interval
        self.abandoned_after = abandoned_after
        self.closed = 0  # abandoned conversations this gateway closed (a metric)

    async def round(self, now_ms: int | None = None) -> Swept:
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        # live() and the command's place in the writer's queue are taken together (no await
        # between): a conversation that ends later has its end queued after this round.
        work = partial(sweep, live=tuple(self._live()), now_ms=now,
                       cutoff_ms=now - int(self.abandoned_after * 1000))
        swept = await self._command(work)
        self.closed += len(swept.closed)
        if swept.closed:
            log.warning("conversation store: closed %d conversation(s) whose gateway stopped "
                        "without ending them (nothing heard for %g s): %s", len(swept.closed),
                        self.abandoned_after, ", ".join(repr(i) for i in swept.closed[:10])
                        + (" …" if len(swept.closed) > 10 else ""))
        return swept

    async def run(self) -> None:
        """Rounds until cancelled; a failed round is logged and retried at the next one."""
        await every(self.interval, self.round, what="conversation store: liveness round",
                    expected=(RuntimeError,))  # RuntimeError: the store is closing
