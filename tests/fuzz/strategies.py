"""Generated hostile input for the fuzz tests, and how many examples to run.

CI runs a modest number of examples per test (seconds each); ``GATEWAY_FUZZ_EXAMPLES=N``
runs N for every test (the long variant, e.g. 5000 overnight). No example database is
written: a failure prints its ``@reproduce_failure`` blob instead.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def examples(fast: int) -> int:
    value = os.environ.get("GATEWAY_FUZZ_EXAMPLES")
    return int(value) if value else fast


def fuzz_settings(fast: int, *, network: bool = False) -> Callable[[Any], Any]:
    """Pure parsers get a deadline (a slow parse is a finding); network ones do not, and
    share the test's gateway across examples (the point: one gateway, many hostile
    clients, and a healthy call beside them)."""
    return settings(
        max_examples=examples(fast), database=None,
        deadline=None if network else 500,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large] if network else [
            HealthCheck.too_slow, HealthCheck.data_too_large])


json_scalars = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(max_size=40))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)

MESSAGE_TYPES = ["offer", "candidate", "bye", "ping", "answer", "hello", "error", "", "OFFER"]
SIGNALING_FIELDS = {
    "sdp": st.text(max_size=200) | json_values,
    "config": json_values | st.dictionaries(
        st.sampled_from(["conversationId", "speaker", "languageCode", "meetingTitle",
                         "insightTypes", "config", "trackers"]), json_values, max_size=4),
    "candidate": st.none() | st.text(max_size=120) | json_values,
    "sdpMid": json_values,
    "sdpMLineIndex": json_values,
}
signaling_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(MESSAGE_TYPES) | json_values},
    optional=SIGNALING_FIELDS)


def as_text(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


signaling_frames = (signaling_messages.map(as_text) | json_values.map(as_text)
                    | st.text(max_size=300)
                    | st.sampled_from(["[" * 50_000, '{"type": "offer", "sdp": "' + "x" * 70_000
                                       + '"}', "1" * 5000, "{}", "null", '"offer"']))

START_KEYS = ["conversationId", "speaker", "languageCode", "meetingTitle", "config",
              "insightTypes", "trackers"]
start_configs = json_values | st.dictionaries(
    st.sampled_from(START_KEYS) | st.text(max_size=10),
    json_values | st.dictionaries(st.sampled_from(
        ["userId", "name", "languageCode", "meetingTitle", "confidenceThreshold",
         "timezoneOffset", "vocabulary"]), json_values, max_size=3),
    max_size=5)

SDP_LINES = [
    "v=0", "v=1", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "c=IN IP4 0.0.0.0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 0 UDP/TLS/RTP/SAVPF 111",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=application 9 DTLS/SCTP 5000",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "m=", "m=audio", "a=sendrecv",
    "a=sendonly", "a=recvonly", "a=inactive", "a=mid:0", "a=mid:1", "a=group:BUNDLE 0 1",
    "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuv", "a=rtcp-mux", "a=setup:actpass",
    "a=fingerprint:sha-256 00:11", "a=rtpmap:111 opus/48000/2", "a=bundle-only",
    "a=candidate:1 1 udp 1 127.0.0.1 9 typ host", "a=end-of-candidates",
]
sdp_texts = st.lists(st.sampled_from(SDP_LINES) | st.text(max_size=40), max_size=25).map(
    "\r\n".join) | st.text(max_size=400)


@st.composite
def mutated(draw: st.DrawFn, lines: list[str]) -> str:
    """A real SDP with a few lines deleted, duplicated, replaced, corrupted or added."""
    out = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "replace", "corrupt", "insert",
                                       "truncate"]))
        if action == "delete":
            del out[i]
        elif action == "duplicate":
            out.insert(i, out[i])
        elif action == "replace":
            out[i] = draw(st.sampled_from(SDP_LINES) | st.text(max_size=60))
        elif action == "corrupt":
            head, _, tail = out[i].partition(":")
            out[i] = head + ":" + draw(st.text(max_size=30)) if tail else draw(
                st.text(max_size=30))
        elif action == "insert":
            out.insert(i, draw(st.sampled_from(SDP_LINES) | st.text(max_size=60)))
        else:
            out = out[:i]
    return "\r\n".join(out) + "\r\n"


SERVER_LOGGERS = ("gateway", "signaling", "asyncio", "aiohttp.server", "aiohttp.web")


def server_errors(records: list[logging.LogRecord],
                  allowed: tuple[str, ...] = ()) -> list[str]:
    """ERROR records from the gateway's side: each one is a finding unless ``allowed``."""
    return [f"{r.name}: {r.getMessage()}" for r in records
            if r.levelno >= logging.ERROR and r.name.startswith(SERVER_LOGGERS)
            and not any(text in r.getMessage() for text in allowed)]
