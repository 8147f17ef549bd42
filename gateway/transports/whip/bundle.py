"""Bundle-only media sections, filled in for aiortc (RFC 9143, RFC 9725 section 4.5.1).

WHIP requires max-bundle, and some encoders then send the sections after the first as
``a=bundle-only`` with port 0 and without their own ICE and DTLS attributes (RFC 9725's own
example offer does). They share the bundle's transport; aiortc nevertheless wants each
section to carry credentials, a fingerprint and ``rtcp-mux``, and refuses the offer
otherwise. Copying the tagged section's transport attributes into the other sections of
the BUNDLE group says the same thing in the form aiortc reads.
"""

from __future__ import annotations

TRANSPORT_ATTRIBUTES = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:",
                        "a=rtcp-mux")


def inherit_bundle_transport(sdp: str) -> str:
    """``sdp`` with each bundled section given the tagged section's missing transport
    attributes; unchanged when there is no BUNDLE group or nothing is missing."""
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    if not starts:
        return sdp
    session = lines[:starts[0]]
    sections = [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)], strict=True)]
    group = next((line.split()[1:] for line in session
                  if line.startswith("a=group:BUNDLE")), [])
    if len(group) < 2:
        return sdp
    mids = [_mid(section) for section in sections]
    if group[0] not in mids:
        return sdp
    tagged = sections[mids.index(group[0])]
    shared = [line for line in tagged if line.startswith(TRANSPORT_ATTRIBUTES)]
    changed = False
    for section, mid in zip(sections, mids, strict=True):
        if mid is None or mid not in group[1:]:
            continue
        missing = [line for line in shared
                   if not any(own.startswith(_name(line)) for own in section)]
        if missing:
            section[1:1] = missing
            changed = True
    if not changed:
        return sdp
    return "\r\n".join(session + [line for section in sections for line in section]) + "\r\n"


def _mid(section: list[str]) -> str | None:
    return next((line[len("a=mid:"):].strip() for line in section
                 if line.startswith("a=mid:")), None)


def _name(line: str) -> str:
    """The attribute's name part, so ``a=setup:actpass`` is found as ``a=setup:``."""
    head, colon, _ = line.partition(":")
    return head + colon
