"""What every WebRTC session shares: built once by the app, handed to each session."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.asr.base import Recognizer
from gateway.auth.conversations import ConversationAccess
from gateway.config import SessionSettings
from gateway.conversation.directory import ConversationDirectory
from gateway.conversation.insights import InsightsProvider
from gateway.outputs.bus import ResultBus
from gateway.relays.manager import Relays

from ..participant import ParticipantMedia
from .ice import IceConfigurator


@dataclass(frozen=True, slots=True)
class SessionServices:
    """Everything a WebRTC (or WHIP) session uses; ``media`` opens a member's media."""

    recognizer: Recognizer
    directory: ConversationDirectory
    bus: ResultBus
    ice: IceConfigurator
    insights: InsightsProvider | None
    settings: SessionSettings
    relays: Relays | None = None  # downstream audio relays (--downstream, config.downstreams)
    resume_grace: float = 30.0  # seconds a resumable session waits for its client; 0: never
    # Who may join which conversation (docs/access-control.md); None: no checks at all.
    access: ConversationAccess | None = None

    @property
    def media(self) -> ParticipantMedia:
        return ParticipantMedia(self.recognizer, self.settings, self.relays)
