"""What WHIP asks of an offer before aiortc sees it (RFC 9725 section 4.2 and 4.5).

An ingest session is one MediaStream with at most one track per kind; this gateway uses the
audio. An offer that is not SDP is a 400; one that is SDP but cannot be ingested here (no
audio the client sends, two audio tracks) is a 422, rejected whole rather than answered
partially, as the RFC asks. Video is answered inactive: an encoder that always offers video
(OBS) can still publish its audio.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.transports.webrtc.peer import unique_mids
from gateway.transports.webrtc.sdp import summarize_offer


class OfferError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class IceCredentials:
    """The client's ICE username fragment and password, as offered (session or first
    media section); a PATCH with other values is an ICE restart."""

    ufrag: str | None
    pwd: str | None


def check_whip_offer(sdp: str) -> IceCredentials:
    try:
        summary = summarize_offer(sdp)
    except ValueError as exc:
        raise OfferError(400, "invalid_sdp", f"the offer is not valid SDP: {exc}") from None
    if not unique_mids(sdp):
        raise OfferError(400, "invalid_sdp", "every media section needs exactly one a=mid, "
                         "each different: WHIP bundles its media (RFC 9725 section 4.5.1, "
                         "RFC 8843)")
    if summary.audio_sections > 1:
        raise OfferError(422, "too_many_audio_tracks",
                         "a WHIP session carries one audio track; this offer has "
                         f"{summary.audio_sections}")
    if not summary.audio_sending:
        raise OfferError(422, "no_audio", "the offer sends no audio: add an audio track "
                         "(sendonly, or sendrecv)")
    return ice_credentials(sdp)


def ice_credentials(sdp: str) -> IceCredentials:
    ufrag = pwd = None
    sections = 0
    for line in sdp.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("m="):
            sections += 1
            if sections > 1 and ufrag is not None:
                break
        elif line.startswith("a=ice-ufrag:") and ufrag is None:
            ufrag = line.split(":", 1)[1].strip()
        elif line.startswith("a=ice-pwd:") and pwd is None:
            pwd = line.split(":", 1)[1].strip()
    return IceCredentials(ufrag, pwd)
