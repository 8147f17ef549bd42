"""Connect two aiortc peers through the configured ICE servers and time it.

This answers the operator's question "does relay-only work through this TURN server, and what
does it cost?" without a browser or the gateway: ``python -m turn selftest --url ... --relay``.
Tests and ``bench/turn_connect.py`` use :func:`connect_pair` for the same measurement.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from .ice import candidate_types
from .mdns import strip_mdns_candidates

#: An mDNS host candidate of the kind browsers send; nobody answers for this name.
FAKE_MDNS_CANDIDATE = (
    "a=candidate:1 1 udp 2122260223 0b9c1c39-2f6e-4a55-9bb2-2f1e5a1d7c11.local 54321 typ host\r\n"
)


@dataclass
class PairResult:
    """Timings (seconds from the start of the offer) and what was negotiated."""

    gathered: float  # offerer's local description ready (its candidates gathered)
    answered: float  # answerer's local description ready
    connected: float  # both peers report connectionState "connected"
    echo_rtt: float  # one data-channel message there and back, after connecting
    offer_candidates: Counter[str] = field(default_factory=Counter)
    answer_candidates: Counter[str] = field(default_factory=Counter)
    selected: list[str] = field(default_factory=list)  # e.g. ["relay -> relay"]
    mdns_removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "gathered_s": round(self.gathered, 4),
            "answered_s": round(self.answered, 4),
            "connected_s": round(self.connected, 4),
            "echo_rtt_s": round(self.echo_rtt, 4),
            "offer_candidates": dict(self.offer_candidates),
            "answer_candidates": dict(self.answer_candidates),
            "selected": self.selected,
            "mdns_removed": self.mdns_removed,
        }


class PairError(RuntimeError):
    """The two peers did not connect; the message includes both peers' candidate counts."""


def _selected_pairs(pc: RTCPeerConnection) -> list[str]:
    """Describe the nominated candidate pair(s), for reports only (reads aioice internals)."""
    described = []
    for transceiver_or_sctp in [pc.sctp, *(t.receiver for t in pc.getTransceivers())]:
        if transceiver_or_sctp is None:
            continue
        ice = transceiver_or_sctp.transport.transport
        nominated = getattr(ice._connection, "_nominated", {})
        for pair in nominated.values():
            text = f"{pair.local_candidate.type} -> {pair.remote_candidate.type}"
            if text not in described:
                described.append(text)
    return described


async def _wait_connected(pc: RTCPeerConnection) -> None:
    done = asyncio.get_running_loop().create_future()

    def check() -> None:
        if done.done():
            return
        if pc.connectionState == "connected":
            done.set_result(None)
        elif pc.connectionState in ("failed", "closed"):
            done.set_exception(PairError(f"connection {pc.connectionState}"))

    pc.on("connectionstatechange", check)
    check()
    await done


async def connect_pair(
    offerer: RTCConfiguration,
    answerer: RTCConfiguration,
    *,
    limit: float = 15.0,
    inject_mdns: bool = False,
    strip_mdns: bool = True,
) -> PairResult:
    """Offer from one peer to the other with a data channel, connect, and echo one message.

    ``inject_mdns`` adds a browser-style ``*.local`` host candidate to the offer, to measure what
    it costs the answerer; ``strip_mdns`` removes such candidates first, as the gateway does.
    """
    a = RTCPeerConnection(offerer)
    b = RTCPeerConnection(answerer)
    try:
        echoed: asyncio.Queue[str] = asyncio.Queue()

        @b.on("datachannel")
        def on_channel(channel: Any) -> None:
            @channel.on("message")
            def on_message(message: Any) -> None:
                channel.send(message)

        channel = a.createDataChannel("selftest")
        channel.on("message", lambda message: echoed.put_nowait(str(message)))
        opened = asyncio.Event()
        channel.on("open", opened.set)

        started = time.perf_counter()
        async with asyncio.timeout(limit):
            await a.setLocalDescription(await a.createOffer())
            gathered = time.perf_counter() - started
            offer_sdp = a.localDescription.sdp
            if inject_mdns:
                offer_sdp = _inject_candidate(offer_sdp, FAKE_MDNS_CANDIDATE)
            removed = 0
            if strip_mdns:
                offer_sdp, removed = strip_mdns_candidates(offer_sdp)
            await b.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await b.setLocalDescription(await b.createAnswer())
            answered = time.perf_counter() - started
            await a.setRemoteDescription(b.localDescription)
            await asyncio.gather(_wait_connected(a), _wait_connected(b), opened.wait())
            connected = time.perf_counter() - started
            sent = time.perf_counter()
            channel.send("ping")
            await echoed.get()
            echo_rtt = time.perf_counter() - sent
        return PairResult(
            gathered=gathered,
            answered=answered,
            connected=connected,
            echo_rtt=echo_rtt,
            offer_candidates=candidate_types(a.localDescription.sdp),
            answer_candidates=candidate_types(b.localDescription.sdp),
            selected=_selected_pairs(a),
            mdns_removed=removed,
        )
    except TimeoutError:
        offer = candidate_types(a.localDescription.sdp) if a.localDescription else Counter()
        answer = candidate_types(b.localDescription.sdp) if b.localDescription else Counter()
        raise PairError(
            f"peers did not connect within {limit:g} s (states {a.connectionState}/"
            f"{b.connectionState}; offer candidates {dict(offer)}, answer candidates "
            f"{dict(answer)})"
        ) from None
    finally:
        await a.close()
        await b.close()


def _inject_candidate(sdp: str, candidate_line: str) -> str:
    """Insert a candidate line into every media section, right after its ice-pwd line."""
    out = []
    for line in sdp.splitlines(keepends=True):
        out.append(line)
        if line.startswith("a=ice-pwd:"):
            out.append(candidate_line)
    return "".join(out)
