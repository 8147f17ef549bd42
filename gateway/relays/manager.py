"""The gateway's relays: one object that every transport and the directory share.

Wiring (the whole seam):

* ``create_app`` builds ``Relays(config.relays)``, gives the directory
  ``relays.conversation_output`` among its outputs, and closes it at cleanup (``aclose``);
* transports parse the offer's config with ``parse_start_config(raw,
  downstreams=relays.policy)`` (so an unknown name or a URL outside the allow-list is
  ``invalid_config``), and build each ``MediaStream`` with
  ``taps=relays.open_participant_taps(member, start)``;
* optionally, ``await relays.close_participant_taps(member)`` before ``member.leave()``: the
  downstreams' last answers then reach the participant's own data channel too. Without it
  the streams are closed when the bus says ``participant_left``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from gateway.outputs.base import AudioSink, ConversationInfo
from gateway.outputs.bus import ResultBus
from gateway.protocols.downstream import StreamInfo

from .allow import AllowList, redact
from .choice import DownstreamPolicy
from .config import RelayConfig
from .conversation import RelayConversation
from .link import DownstreamLink
from .report import STATUS_TYPE, Reporter
from .settings import LinkSettings
from .targets import Target, TargetError

if TYPE_CHECKING:
    from gateway.conversation.member import Member
    from gateway.conversation.start_config import StartConfig

log = logging.getLogger(__name__)


class Relays:
    """Downstream streams for every conversation of this gateway."""

    def __init__(self, config: RelayConfig, *, bus: ResultBus,
                 settings: LinkSettings | None = None) -> None:
        self.config = config
        self.policy = DownstreamPolicy(config.downstreams, AllowList(config.allow))
        self.settings = settings or LinkSettings(buffer_seconds=config.buffer_seconds,
                                                 connect_timeout=config.connect_timeout)
        self._bus = bus
        self._session: aiohttp.ClientSession | None = None
        self.conversations: dict[str, RelayConversation] = {}
        # Called with every link made (tests and benchmarks read its counters).
        self.observer: Callable[[DownstreamLink], None] | None = None

    @property
    def active(self) -> bool:
        """Whether any session can have a downstream (configured ones, or an allow-list)."""
        return bool(self.config.downstreams or self.policy.allow)

    def startup_line(self) -> str:
        names = ", ".join(f"{t.label} ({t.protocol} {redact(t.url)}, {t.select})"
                          for t in self.config.downstreams) or "none"
        allowed = ", ".join(p.text for p in self.policy.allow.patterns) or "none"
        return f"downstreams: {names}; client URLs allowed: {allowed}"

    # -- the directory's output ----------------------------------------------------------

    def conversation_output(self, info: ConversationInfo) -> RelayConversation:
        """A ``SinkFactory``: the relays of each new conversation."""
        relay = RelayConversation(info, self._make_link, on_closed=self._closed)
        self.conversations[info.id] = relay
        return relay

    def _closed(self, relay: RelayConversation) -> None:
        if self.conversations.get(relay.info.id) is relay:
            del self.conversations[relay.info.id]

    # -- transports ----------------------------------------------------------------------

    def open_participant_taps(self, member: Member, start: StartConfig) -> list[AudioSink]:
        """The ``MediaStream`` taps of one participant: its audio to each downstream its
        session resolves to. Never raises; what cannot be opened is logged and reported
        to the participant as ``downstream_status`` ``refused``."""
        try:
            targets = start.downstreams
            if targets is None:  # parsed without the policy: resolve (and check) here
                targets = self.policy.resolve(start.raw.get("downstreams"))
        except TargetError as exc:
            log.warning("participant %s: downstreams refused: %s", member.id, exc)
            self._refuse(member, str(exc))
            return []
        if not targets:
            return []
        relay = self._relay_of(member)
        try:
            return relay.open(member, targets, start.raw)
        except Exception:
            log.exception("participant %s: downstreams could not be opened", member.id)
            return []

    async def close_participant_taps(self, member: Member) -> None:
        """End a participant's downstream streams now (drain, goodbye, last answers)."""
        relay = self.conversations.get(member.conversation.id)
        if relay is not None and relay.knows(member.id):
            await relay.close_participant(member.id)

    def _relay_of(self, member: Member) -> RelayConversation:
        conversation = member.conversation
        relay = self.conversations.get(conversation.id)
        if relay is None or relay.closed:
            # A directory built without ``conversation_output``: attach one now.
            relay = self.conversation_output(conversation.info)
            self._bus.attach(conversation.id, relay)
        return relay

    def _refuse(self, member: Member, why: str) -> None:
        member.conversation.publish(
            {"type": STATUS_TYPE, "protocol": None, "downstream": None,
             "conversationId": member.conversation.id, "participantId": member.id,
             "status": "refused", "reason": why},
            origin=member.id, audience="participant")

    def _make_link(self, target: Target, info: StreamInfo,
                   publish: Any, start: Mapping[str, Any] | None) -> DownstreamLink:
        url = target.url_for(info)
        if target.source == "client":
            self.policy.allow.check(url)  # as it will be connected to, placeholders filled
        link = DownstreamLink(
            target.build(info, start=start), url, session=self.session,
            reporter=Reporter(publish, reply_rate=self.settings.reply_rate),
            settings=self.settings, headers=target.headers, results=target.carries_results)
        if self.observer is not None:
            self.observer(link)
        return link

    # -- resources -------------------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """One HTTP client for every downstream; no cap on connections (aiohttp's default
        of 100 would make the 101st stream wait for a slot)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._session

    async def aclose(self) -> None:
        """Shutdown: end what is still open, then release the HTTP client."""
        for relay in list(self.conversations.values()):
            with contextlib.suppress(Exception):
                await relay.close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()


RELAYS_KEY = web.AppKey("relays", Relays)
