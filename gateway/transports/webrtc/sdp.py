"""Just enough SDP reading to reject unusable offers with a clear reason before aiortc.

aiortc accepts an offer with no audio, or with audio the client will never send, and then
simply waits forever; a client deserves to be told instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OfferSummary:
    audio_sections: int
    audio_sending: bool
    data_channel: bool


def summarize_offer(sdp: str) -> OfferSummary:
    """Describe the offer's media sections; raises ValueError if it is not SDP at all."""
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise ValueError("an SDP offer must start with 'v=0'")
    audio_sections = 0
    audio_sending = False
    data_channel = False
    kind: str | None = None
    port = ""
    direction = "sendrecv"
    session_direction = "sendrecv"

    def close_section() -> None:
        nonlocal audio_sections, audio_sending
        if kind == "audio":
            audio_sections += 1
            if port != "0" and direction in ("sendrecv", "sendonly"):
                audio_sending = True

    for line in lines:
        if line.startswith("m="):
            close_section()
            parts = line[2:].split()
            kind = parts[0] if parts else ""
            port = parts[1] if len(parts) > 1 else ""
            direction = session_direction
            if kind == "application":
                data_channel = data_channel or port != "0"
        elif line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            if kind is None:
                session_direction = line[2:]
            else:
                direction = line[2:]
    close_section()
    return OfferSummary(audio_sections, audio_sending, data_channel)
