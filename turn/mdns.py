"""Dropping browser ICE candidates that hide their address behind an mDNS name (``*.local``).

Browsers that have not been granted microphone access (and some that have) replace host IP
addresses in their candidates with random ``<uuid>.local`` names. aiortc resolves each such name
with multicast DNS inside ``setRemoteDescription`` / ``addIceCandidate``, and on a server the
query is never answered: every candidate costs about one second of timeout before the gateway
can even produce its answer.

Removing them is safe for a server: an mDNS name is only resolvable on the browser's own LAN, so
the gateway could never have used it. Connectivity does not depend on it either: the browser
still sends checks from that host address to the gateway's own host and relay candidates, and
the gateway learns the address as a peer-reflexive candidate when those checks arrive. The
browser's server-reflexive and relay candidates (real addresses) are kept.
"""

from __future__ import annotations

import re

# The connection-address is the fifth field: "candidate:<foundation> <component> <transport>
# <priority> <address> <port> typ <type> ...". Browsers use "<uuid>.local"; match any ".local".
_CANDIDATE_RE = re.compile(
    r"^(?:a=)?candidate:\S+\s+\d+\s+\S+\s+\d+\s+(?P<address>\S+)\s+\d+\s+typ\s+\S+", re.IGNORECASE
)


def candidate_address(candidate_sdp: str) -> str | None:
    """The connection address of one candidate line, or ``None`` if it is not a candidate."""
    match = _CANDIDATE_RE.match(candidate_sdp.strip())
    return match["address"] if match else None


def is_mdns_candidate(candidate_sdp: str) -> bool:
    """True for a candidate (``a=candidate:...`` or bare ``candidate:...``) with a ``.local`` host.

    Signaling calls this on trickled candidates too, since ``addIceCandidate`` would otherwise
    block on the same mDNS resolution.
    """
    address = candidate_address(candidate_sdp)
    return address is not None and address.rstrip(".").lower().endswith(".local")


def strip_mdns_candidates(sdp: str) -> tuple[str, int]:
    """Remove mDNS candidate lines from an SDP; return the new SDP and how many were removed.

    Line endings are preserved (SDP uses CRLF), and nothing else in the description changes, so
    the result is still a valid offer or answer.
    """
    kept: list[str] = []
    removed = 0
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:") and is_mdns_candidate(line):
            removed += 1
            continue
        kept.append(line)
    return "".join(kept), removed
