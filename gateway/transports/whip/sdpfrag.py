"""Trickle ICE SDP fragments (``application/trickle-ice-sdpfrag``, RFC 8840 section 4.4).

A WHIP client PATCHes its late candidates as a fragment: ICE credentials, ``m=`` lines
naming the media sections, ``a=mid``, ``a=candidate`` lines and ``a=end-of-candidates``.
This reads one strictly enough to refuse what is malformed with a reason (RFC 9725 wants a
4xx for that), and leniently enough to ignore attributes it does not need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiortc.sdp import candidate_from_sdp

MAX_FRAGMENT_CANDIDATES = 100
_LINE = re.compile(r"^[a-z]=[^\x00\r\n]*$")
# RFC 8839: ice-char = ALPHA / DIGIT / "+" / "/"; ufrag 4-256, pwd 22-256 characters.
_ICE_CHARS = re.compile(r"^[A-Za-z0-9+/]{1,256}$")


class FragmentError(ValueError):
    """The body is not a usable SDP fragment; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class FragmentCandidate:
    text: str  # the candidate attribute value, without "a=" (starts with "candidate:")
    mid: str | None
    mline_index: int


@dataclass(slots=True)
class SdpFragment:
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    candidates: list[FragmentCandidate] = field(default_factory=list)
    end_of_candidates: bool = False


def parse_fragment(body: str) -> SdpFragment:
    """Read a fragment; raise ``FragmentError`` naming the first problem."""
    fragment = SdpFragment()
    index = -1  # m= lines seen; candidates before any m= line belong to the first section
    mid: str | None = None
    for number, line in enumerate(body.replace("\r\n", "\n").split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        if not _LINE.match(line):
            raise FragmentError(f"line {number} is not an SDP line ('x=value'): {line[:80]!r}")
        if line.startswith("m="):
            if len(line[2:].split()) < 3:
                raise FragmentError(f"line {number}: an m= line needs media, port and proto")
            index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:"):].strip() or None
        elif line.startswith("a=ice-ufrag:"):
            fragment.ice_ufrag = _credential(fragment.ice_ufrag, line, "ice-ufrag", number)
        elif line.startswith("a=ice-pwd:"):
            fragment.ice_pwd = _credential(fragment.ice_pwd, line, "ice-pwd", number)
        elif line.startswith("a=candidate:"):
            text = line[2:]
            _check_candidate(text, number)
            if len(fragment.candidates) >= MAX_FRAGMENT_CANDIDATES:
                raise FragmentError(f"at most {MAX_FRAGMENT_CANDIDATES} candidates per request")
            fragment.candidates.append(FragmentCandidate(text, mid, max(index, 0)))
        elif line == "a=end-of-candidates":
            fragment.end_of_candidates = True
    _fill_mids(fragment, body)
    return fragment


def _credential(current: str | None, line: str, name: str, number: int) -> str:
    value = line.split(":", 1)[1].strip()
    if not _ICE_CHARS.match(value):
        raise FragmentError(f"line {number}: {name} must be 1-256 ICE characters "
                            "(letters, digits, '+', '/')")
    if current is not None and current != value:
        raise FragmentError(f"line {number}: two different {name} values in one fragment")
    return value


def _check_candidate(text: str, number: int) -> None:
    """RFC 8839 candidate-attribute: foundation component transport priority address port
    "typ" type ...; parsed as aiortc will parse it, so nothing fails later."""
    bits = text[len("candidate:"):].split()
    if len(bits) < 8 or bits[6] != "typ":
        raise FragmentError(f"line {number}: a candidate needs 'foundation component transport "
                            "priority address port typ type'")
    try:
        candidate = candidate_from_sdp(text[len("candidate:"):])
    except (ValueError, IndexError, AssertionError):
        raise FragmentError(f"line {number}: the candidate's numbers are not valid") from None
    if not 1 <= candidate.component <= 256 or not 0 <= candidate.port <= 65535 \
            or not 0 <= candidate.priority < 2 ** 32:
        raise FragmentError(f"line {number}: component, port or priority out of range")


def _fill_mids(fragment: SdpFragment, body: str) -> None:
    """``a=mid`` may follow the candidates of its section: give those candidates the mid."""
    mids: dict[int, str] = {}
    index = -1
    for line in body.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("m="):
            index += 1
        elif line.startswith("a=mid:") and line[6:].strip():
            mids.setdefault(max(index, 0), line[6:].strip())
    fragment.candidates = [
        c if c.mid is not None else FragmentCandidate(c.text, mids.get(c.mline_index),
                                                      c.mline_index)
        for c in fragment.candidates]
