"""Signaling sessions in a cluster: each participant ends up on its conversation's node.

``ClusterSessionFactory`` wraps the WebRTC transport's session factory. Before a session
applies an offer naming a conversation, the directory places the conversation; if another
node hosts it, the client gets a ``redirect`` to that node and the connection ends before
anything is built here. A node at its session limit answers offers with a ``redirect`` to
the least-loaded node that has room (or ``server_busy`` when none has). Sessions are
recorded in Redis (for resume) while they live and for the resume window after; a client
that comes to resume a session this node does not have is redirected to the node that has
it (``session_elsewhere``).

Everything else is passed through unchanged, including methods this wrapper does not know
(``__getattr__``), so the signaling side can grow without touching it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from gateway.conversation.directory import ConversationElsewhere
from gateway.conversation.start_config import CONVERSATION_ID
from signaling.interface import (
    Answer,
    Notify,
    RemoteCandidate,
    Resumed,
    SessionError,
    SessionFactory,
    SignalingSession,
)

from .admission import ClusterAdmission
from .cluster import Cluster
from .directory import ClusterDirectory
from .nodes import NodeInfo
from .redirect import redirect_message, redirected_error, resume_redirect


class ClusterSessionFactory:
    """Implements ``signaling.interface.SessionFactory`` around the transport's factory."""

    def __init__(self, inner: SessionFactory, cluster: Cluster, directory: ClusterDirectory,
                 admission: ClusterAdmission) -> None:
        self._inner = inner
        self._cluster = cluster
        self._directory = directory
        self._admission = admission

    def ice_servers(self, session_id: str) -> list[dict[str, Any]]:
        return self._inner.ice_servers(session_id)

    def open(self, session_id: str, notify: Notify, principal: Any = None) -> SignalingSession:
        try:
            session = self._inner.open(session_id, notify, principal)
        except SessionError as exc:
            target = self._admission.elsewhere() if exc.code == "server_busy" else None
            if target is None:
                raise
            return MovedSession(notify, target)
        return RoutedSession(session, session_id, notify, self._cluster, self._directory)

    async def resume(self, session_id: str, token: str, notify: Notify, *, last_seq: int,
                     offer_sdp: str | None, principal: Any = None,
                     ) -> tuple[SignalingSession, Resumed]:
        try:
            return await self._inner.resume(session_id, token, notify, last_seq=last_seq,
                                            offer_sdp=offer_sdp, principal=principal)
        except SessionError as exc:
            if exc.code != "resume_failed" or exc.details.get("reason") != "unknown_session":
                raise
            message = await resume_redirect(self._cluster, session_id)
            if message is None:
                raise
        await notify(message)
        raise redirected_error("session_elsewhere", message["nodeId"], message["url"])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RoutedSession:
    """A session of this node; its offer is checked against the conversation's owner."""

    def __init__(self, inner: SignalingSession, session_id: str, notify: Notify,
                 cluster: Cluster, directory: ClusterDirectory) -> None:
        self._inner = inner
        self._id = session_id
        self._notify = notify
        self._cluster = cluster
        self._directory = directory
        self._recorder: asyncio.Task[None] | None = None

    async def start(self, offer_sdp: str, config: Mapping[str, Any],
                    features: frozenset[str] = frozenset()) -> Answer:
        conversation_id = config.get("conversationId") if isinstance(config, Mapping) else None
        if isinstance(conversation_id, str) and CONVERSATION_ID.match(conversation_id):
            try:
                await self._directory.place(conversation_id)
            except ConversationElsewhere as exc:
                await self._notify(redirect_message("conversation_elsewhere", exc.node_id,
                                                    exc.url, conversation_id=conversation_id))
                raise redirected_error("conversation_elsewhere", exc.node_id, exc.url) from None
        answer = await self._inner.start(offer_sdp, config, features)
        self._cluster.session_started(self._id, answer.conversation_id)
        # Recorded as ended when it ends, not when its connection closes: a resumable
        # session outlives its connection.
        self._recorder = asyncio.ensure_future(self._record_end())
        return answer

    async def _record_end(self) -> None:
        await self._inner.wait_closed()
        self._cluster.session_ended(self._id)

    async def add_candidate(self, candidate: RemoteCandidate) -> None:
        await self._inner.add_candidate(candidate)

    def answered(self) -> None:
        self._inner.answered()

    async def peer(self, to: str, data: Mapping[str, Any]) -> None:
        await self._inner.peer(to, data)

    async def mute(self, muted: bool) -> None:
        await self._inner.mute(muted)

    async def stop(self) -> None:
        await self._inner.stop()

    async def close(self) -> None:
        await self._inner.close()

    async def wait_closed(self) -> None:
        await self._inner.wait_closed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class MovedSession:
    """What a full node gives a connection: its offer is answered with a redirect."""

    def __init__(self, notify: Notify, target: NodeInfo) -> None:
        self._notify = notify
        self._target = target
        self._closed = False

    async def start(self, offer_sdp: str, config: Mapping[str, Any],
                    features: frozenset[str] = frozenset()) -> Answer:
        url = self._target.ws_url()
        await self._notify(redirect_message("node_busy", self._target.id, url))
        raise redirected_error("node_busy", self._target.id, url)

    async def add_candidate(self, candidate: RemoteCandidate) -> None:
        raise SessionError("session_closed", "this session has ended", fatal=True)

    async def stop(self) -> None:
        self._closed = True

    async def close(self) -> None:
        self._closed = True

    async def wait_closed(self) -> None:
        return None

    def answered(self) -> None:  # the calls protocol's hook; nothing to announce here
        return None

    async def peer(self, to: str, data: Mapping[str, Any]) -> None:
        raise SessionError("session_closed", "this session has ended", fatal=True)

    async def mute(self, muted: bool) -> None:
        raise SessionError("session_closed", "this session has ended", fatal=True)
