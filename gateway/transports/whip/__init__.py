"""WHIP ingest (RFC 9725): an encoder or a browser publishes audio with one HTTP POST.

``POST /whip`` takes an SDP offer and answers ``201 Created`` with the SDP answer and the
session's ``Location``; ``PATCH`` on that location trickles ICE candidates
(``application/trickle-ice-sdpfrag``, RFC 8840); ``DELETE`` ends the session. The audio
feeds a ``MediaStream`` exactly as a WebRTC call's does, and the results go to the
conversation's outputs (consoles, relay, store); see docs/whip.md.
"""
