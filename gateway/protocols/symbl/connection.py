"""What a Symbl streaming connection may do next: the protocol's rules, without any I/O.

The transport asks these rules before acting on each frame, so the protocol's corners are
decided (and tested) in one place:

* audio before ``start_request`` is ignored, as Symbl's reference says ("any binary audio
  streamed before the receipt of this message will be ignored"); the client is told once;
* a second ``start_request`` while streaming is an error (the first one stands), but after
  a ``stop_request`` with ``disconnectOnStopRequest: false`` a new one *resumes* processing
  in the same conversation — the point of that flag;
* ``stop_request`` closes the socket after the closing messages unless
  ``disconnectOnStopRequest`` is false and ``disconnectOnStopRequestTimeout`` is not 0;
  then the socket idles for that long waiting for a new ``start_request``;
* audio frames are limited to Symbl's 8192 bytes, except for containers (WebM/Ogg from
  ``MediaRecorder``, FLAC), whose chunk size the browser picks.

Every refusal is a non-fatal :class:`RealtimeError`: Symbl's socket stayed usable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .audio_format import AudioFormat
from .errors import RealtimeError
from .realtime import MAX_AUDIO_FRAME_BYTES, ModifyRequest, StartRequest

__all__ = ["MAX_CONTAINER_FRAME_BYTES", "ConnectionRules", "Phase", "StopPlan"]

# MediaRecorder chunks: 1 s of Opus at Chrome's default 128 kbit/s is 16 KiB.
MAX_CONTAINER_FRAME_BYTES = 64 * 1024


class Phase(enum.Enum):
    AWAITING_START = "awaiting_start"
    STREAMING = "streaming"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class StopPlan:
    """After the closing messages: close the socket, or idle ``idle_timeout`` seconds."""

    close: bool
    idle_timeout: float


@dataclass(frozen=True, slots=True)
class AudioCheck:
    """Whether to decode a binary frame, and the error to send (at most once per cause)."""

    accept: bool
    error: RealtimeError | None = None


class ConnectionRules:
    """The state of one socket: which messages are legal now, and what they lead to."""

    def __init__(self) -> None:
        self.phase = Phase.AWAITING_START
        self.start: StartRequest | None = None
        self.audio: AudioFormat | None = None
        self.starts = 0  # 2 or more: the conversation was resumed after a stop
        self._told_early_audio = False

    def check_start(self) -> None:
        """Raise ``already_started`` unless a ``start_request`` is legal now.

        The transport asks before it acts on the request (which may still be refused, e.g.
        for its language) and commits with :meth:`on_start` once it was accepted.
        """
        if self.phase is Phase.STREAMING:
            raise RealtimeError(
                "already_started", "start_request was already received on this connection",
                details="send stop_request first (with disconnectOnStopRequest: false the "
                "connection stays open for a new start_request)")

    def on_start(self, request: StartRequest) -> bool:
        """Accept a ``start_request``; True when it resumes a stopped conversation."""
        self.check_start()
        resumed = self.phase is Phase.STOPPED
        self.phase, self.start, self.audio = Phase.STREAMING, request, request.audio
        self.starts += 1
        return resumed

    def on_stop(self) -> StopPlan:
        if self.phase is not Phase.STREAMING or self.start is None:
            raise RealtimeError("not_started", "stop_request before start_request",
                                details="nothing is being processed on this connection")
        self.phase = Phase.STOPPED
        keep = not self.start.disconnect_on_stop and self.start.disconnect_on_stop_timeout > 0
        return StopPlan(close=not keep,
                        idle_timeout=self.start.disconnect_on_stop_timeout if keep else 0.0)

    def on_modify(self, request: ModifyRequest) -> AudioFormat:
        """The new audio format (the transport swaps its decoder)."""
        if self.phase is not Phase.STREAMING or self.audio is None:
            raise RealtimeError("not_started", "modify_request before start_request",
                                details="modify_request changes a running stream's audio")
        self.audio = request.apply(self.audio)
        return self.audio

    def frame_limit(self) -> int:
        if self.audio is not None and self.audio.encoding in ("OPUS", "FLAC"):
            return MAX_CONTAINER_FRAME_BYTES
        return MAX_AUDIO_FRAME_BYTES

    def on_audio(self, size: int) -> AudioCheck:
        if self.phase is not Phase.STREAMING:
            if self._told_early_audio:
                return AudioCheck(False)
            self._told_early_audio = True
            return AudioCheck(False, RealtimeError(
                "audio_before_start", "binary audio before start_request is ignored",
                details="send start_request first, then the audio"))
        limit = self.frame_limit()
        if size > limit:
            return AudioCheck(False, RealtimeError(
                "frame_too_large", f"audio frame of {size} bytes is over the {limit}-byte limit",
                details=f"send audio in chunks of at most {limit} bytes"))
        return AudioCheck(True)
