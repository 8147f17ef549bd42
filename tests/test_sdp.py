from __future__ import annotations

import pytest

from gateway.transports.webrtc.sdp import summarize_offer

BASE = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
AUDIO = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
DATA = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n"


def test_audio_and_data_channel() -> None:
    s = summarize_offer(BASE + AUDIO + "a=sendrecv\r\n" + DATA)
    assert s.audio_sending and s.data_channel and s.audio_sections == 1


@pytest.mark.parametrize("direction", ["recvonly", "inactive"])
def test_audio_the_client_will_not_send(direction: str) -> None:
    assert not summarize_offer(BASE + AUDIO + f"a={direction}\r\n" + DATA).audio_sending


def test_rejected_audio_port_zero() -> None:
    assert not summarize_offer(BASE + AUDIO.replace("audio 9", "audio 0") + DATA).audio_sending


def test_no_data_channel() -> None:
    s = summarize_offer(BASE + AUDIO)
    assert s.audio_sending and not s.data_channel


@pytest.mark.parametrize("garbage", ["", "hello", "o=- 1 1 IN IP4 0.0.0.0\r\nv=0"])
def test_not_sdp(garbage: str) -> None:
    with pytest.raises(ValueError):
        summarize_offer(garbage)
