"""aiortc peer-connection chores the session delegates: answering, candidates, tracks."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from signaling.interface import RemoteCandidate, SessionError
from turn.mdns import is_mdns_candidate

from .sdp import summarize_offer

log = logging.getLogger(__name__)

DATA_CHANNEL_LABEL = "insights"
PEER_CLOSE_TIMEOUT = 3.0
_closing_peers: set[asyncio.Task[None]] = set()  # bounded closes still finishing


def check_offer(offer_sdp: str) -> None:
    """Refuse an unusable offer with a reason before aiortc (which would accept it and wait
    for ever): not SDP, no audio the client sends, no data channel for the results."""
    try:
        summary = summarize_offer(offer_sdp)
    except ValueError as exc:
        raise SessionError("invalid_sdp", f"the offer is not valid SDP: {exc}",
                           retryable=True) from None
    if not summary.audio_sending:
        raise SessionError(
            "no_audio", "the offer sends no audio: add a microphone track (sendrecv or sendonly)",
            retryable=True)
    if not unique_mids(offer_sdp):
        raise SessionError(
            "invalid_sdp", "every media section of the offer needs one a=mid, no two alike",
            retryable=True)
    if not summary.data_channel:
        raise SessionError(
            "no_data_channel",
            f"create a data channel labelled '{DATA_CHANNEL_LABEL}' before the offer: "
            "results are delivered on it", retryable=True)


async def answer_offer(pc: RTCPeerConnection, offer_sdp: str) -> str:
    """Apply the offer and return our answer (all our candidates are in it)."""
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    receive_one_audio_track(pc)
    await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)


def receive_one_audio_track(pc: RTCPeerConnection) -> None:
    """Answer only the first audio section; video and extra audio become inactive.

    aiortc decodes every track it receives on its own thread: one client offering video
    or ten microphones would cost CPU nobody uses.
    """
    audio_seen = False
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio" and not audio_seen:
            audio_seen = True
            continue
        transceiver.direction = "inactive"


async def add_candidate(pc: RTCPeerConnection, candidate: RemoteCandidate, label: str) -> None:
    """Apply one trickled candidate; ``None`` ends them. mDNS candidates are ignored."""
    if candidate.candidate is None:
        await pc.addIceCandidate(None)  # end of candidates
        return
    text = candidate.candidate
    if is_mdns_candidate(text):
        # mDNS-hidden browser address: resolving it would stall; the browser still
        # reaches our own candidates and is learned as peer-reflexive.
        log.debug("session %s: ignoring mDNS candidate", label)
        return
    text = text[len("candidate:"):] if text.startswith("candidate:") else text
    try:
        ice = candidate_from_sdp(text)
    except Exception:
        raise SessionError("invalid_candidate", "the candidate could not be parsed") from None
    ice.sdpMid = candidate.sdp_mid
    ice.sdpMLineIndex = candidate.sdp_mline_index
    try:
        await pc.addIceCandidate(ice)
    except Exception as exc:
        raise SessionError("invalid_candidate", f"the candidate was refused: {exc}") from None


async def discard(track: MediaStreamTrack) -> None:
    """Read a track we do not use: aiortc decodes into an unbounded queue, read it or leak."""
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


def unique_mids(sdp: str) -> bool:
    """One ``a=mid`` per media section, no two alike; aiortc fails on anything else in ways
    that leave its peer connection unable to close cleanly."""
    mids: list[list[str]] = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("m="):
            mids.append([])
        elif line.startswith("a=mid:") and mids:
            mids[-1].append(line[len("a=mid:"):].strip())
    return all(len(m) == 1 and m[0] for m in mids) and len({m[0] for m in mids}) == len(mids)


async def close_peer(pc: RTCPeerConnection, label: str,
                     timeout: float = PEER_CLOSE_TIMEOUT) -> None:
    """Close a peer connection, waiting at most ``timeout``.

    aiortc's close frees the TURN allocation and waits for the TURN server's answer; with
    the server gone that is ~64 s of STUN retransmissions (measured), which would hold the
    DELETE, the admission ticket and the shutdown hostage. Past the bound the close goes on
    in the background and frees its sockets when it ends.
    """
    task = asyncio.ensure_future(pc.close())
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s: closing the peer connection failed: %r", label, task.exception())
        return
    log.warning("%s: the peer connection did not close within %.0f s (a TURN server that "
                "went away?); finishing in the background", label, timeout)
    _closing_peers.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[None]) -> None:
    _closing_peers.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.debug("a background peer-connection close failed: %r", task.exception())
