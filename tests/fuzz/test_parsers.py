"""Every parser of untrusted input, fed generated garbage: each input is either accepted as a
well-typed value or refused with that parser's own error carrying a stable code or field
path and a message. Anything else (a TypeError, a KeyError, a hang) is a finding."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from gateway.conversation.insights import DefaultInsightsProvider
from gateway.conversation.start_config import (
    ConfigError,
    StartConfig,
    UnsupportedLanguage,
    check_language,
    parse_start_config,
)
from gateway.insights import parse_insights_config
from gateway.insights.config import InsightsConfigError
from gateway.transports.webrtc import peer
from gateway.transports.webrtc.sdp import OfferSummary, summarize_offer
from gateway.transports.whip.bundle import inherit_bundle_transport
from gateway.transports.whip.offer import IceCredentials, OfferError, check_whip_offer
from gateway.transports.whip.responses import etag_matches
from gateway.transports.whip.routes import query_config
from gateway.transports.whip.sdpfrag import FragmentError, SdpFragment, parse_fragment
from signaling import protocol
from signaling.interface import SessionError
from signaling.protocol import Bye, Candidate, Offer, Ping, ProtocolError

from .strategies import (
    SDP_LINES,
    fuzz_settings,
    json_values,
    sdp_texts,
    signaling_frames,
    start_configs,
)

SIGNALING_CODES = {"bad_json", "bad_message", "unknown_type", "missing_field", "invalid_field",
                   "message_too_large"}


@fuzz_settings(200)
@given(signaling_frames)
def test_signaling_messages(text: str) -> None:
    try:
        message = protocol.parse(text)
    except ProtocolError as exc:
        assert exc.code in SIGNALING_CODES and exc.message
        return
    assert isinstance(message, Offer | Candidate | Bye | Ping)
    if isinstance(message, Offer):
        assert isinstance(message.sdp, str) and message.sdp.strip()
        assert isinstance(message.config, Mapping)
    if isinstance(message, Candidate):
        c = message.candidate
        assert c.candidate is None or isinstance(c.candidate, str)
        assert c.sdp_mid is None or isinstance(c.sdp_mid, str)
        assert c.sdp_mline_index is None or type(c.sdp_mline_index) is int


@fuzz_settings(100)
@given(start_configs)
def test_start_config_and_insight_settings(raw: object) -> None:
    """The whole of a session's config validation: the start config, the insights
    provider's settings, the language check (``WebRtcSession._validate_config``)."""
    try:
        start = parse_start_config(raw)
    except ConfigError as exc:
        assert exc.field.startswith("config") and exc.message
        return
    assert isinstance(start, StartConfig)
    try:
        DefaultInsightsProvider().prepare(start)
        check_language(start, "en-US")
    except InsightsConfigError as exc:
        assert exc.field and exc.message
    except UnsupportedLanguage as exc:
        assert "languageCode" in str(exc)


@fuzz_settings(100)
@given(json_values)
def test_insights_config_of_any_json(raw: object) -> None:
    try:
        parse_insights_config(raw)  # type: ignore[arg-type]
    except InsightsConfigError as exc:
        assert exc.field and exc.message


@fuzz_settings(150)
@given(sdp_texts)
def test_offer_summary_and_check(sdp: str) -> None:
    try:
        summary = summarize_offer(sdp)
    except ValueError as exc:
        assert str(exc)
    else:
        assert isinstance(summary, OfferSummary) and summary.audio_sections >= 0
    try:
        peer.check_offer(sdp)
    except SessionError as exc:
        assert exc.code in {"invalid_sdp", "no_audio", "no_data_channel"} and exc.retryable


@fuzz_settings(150)
@given(sdp_texts)
def test_whip_offer_check_and_bundle_fill(sdp: str) -> None:
    try:
        credentials = check_whip_offer(sdp)
    except OfferError as exc:
        assert (exc.status, exc.code) in {(400, "invalid_sdp"), (422, "no_audio"),
                                          (422, "too_many_audio_tracks")}
    else:
        assert isinstance(credentials, IceCredentials)
    filled = inherit_bundle_transport(sdp)
    assert isinstance(filled, str)
    assert filled.count("m=") == sdp.count("m=")  # never adds or loses a section


fragment_lines = st.lists(
    st.sampled_from(SDP_LINES + ["a=ice-ufrag:EsAw", "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
                                 "a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host",
                                 "a=candidate:1 1 tcp 1 ::1 9 typ host tcptype active",
                                 "a=candidate:x y z", "a=ice-ufrag:bad ufrag"])
    | st.text(max_size=60), max_size=20).map("\r\n".join)


@fuzz_settings(150)
@given(fragment_lines | st.text(max_size=500))
def test_trickle_fragments(body: str) -> None:
    try:
        fragment = parse_fragment(body)
    except FragmentError as exc:
        assert str(exc)
        return
    assert isinstance(fragment, SdpFragment)
    for candidate in fragment.candidates:
        assert candidate.text.startswith("candidate:") and candidate.mline_index >= 0


@fuzz_settings(100)
@given(st.text(max_size=80), st.text(max_size=20))
def test_if_match(header: str, etag: str) -> None:
    assert isinstance(etag_matches(header, f'"{etag}"'), bool)


@fuzz_settings(100)
@given(st.dictionaries(st.sampled_from(["conversationId", "meetingTitle", "languageCode",
                                        "name", "userId", "other"]), st.text(max_size=300)))
def test_whip_query_parameters(query: dict[str, str]) -> None:
    try:
        start = parse_start_config(query_config(query))
    except ConfigError as exc:
        assert exc.field.startswith("config.")
        return
    assert start.conversation_id == query.get("conversationId")
    assert start.speaker.name == query.get("name")
