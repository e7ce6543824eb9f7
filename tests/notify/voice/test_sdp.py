from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.notify.voice.sdp import Answer, SdpError, offer, parse_answer


def test_the_offer_is_pcmu_and_telephone_event_at_20_ms():
    lines = offer("127.0.0.1", 40000, 7).decode().splitlines()
    assert "c=IN IP4 127.0.0.1" in lines
    assert "m=audio 40000 RTP/AVP 0 101" in lines
    assert {"a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20"} <= set(lines)


BARESIP = b"""v=0\r
o=- 1 2 IN IP4 127.0.0.1\r
s=-\r
c=IN IP4 192.0.2.9\r
t=0 0\r
m=audio 16034 RTP/AVP 0 96\r
c=IN IP4 127.0.0.1\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:96 telephone-event/8000\r
a=sendrecv\r
"""


def test_the_answer_says_where_the_audio_goes_and_which_type_carries_keys():
    # A media-level c= line wins over the session one.
    assert parse_answer(BARESIP) == Answer("127.0.0.1", 16034, 96)


def test_an_answer_without_telephone_event_has_no_key_type():
    body = b"v=0\nc=IN IP4 10.0.0.1\nm=audio 5004 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
    assert parse_answer(body) == Answer("10.0.0.1", 5004, None)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"v=0\nc=IN IP4 10.0.0.1\n", "no audio stream"),
        (b"v=0\nc=IN IP4 10.0.0.1\nm=audio 0 RTP/AVP 0\n", "refused the audio"),
        (b"v=0\nc=IN IP4 10.0.0.1\nm=audio 5004 RTP/AVP 8\n", "does not take PCMU"),
        (b"v=0\nm=audio 5004 RTP/AVP 0\n", "no address"),
        (b"v=0\nc=IN IP4 10.0.0.1\nm=audio 99999 RTP/AVP 0\n", "audio port 99999 is not a port"),
        (b"v=0\nc=IN IP4 phone.example\nm=audio 5004 RTP/AVP 0\n", "'phone.example' is not an IP address"),
        (b"v=0\nc=IN IP4 10.0.0.1\nm=audio \xc2\xb2 RTP/AVP 0\n", "no audio stream"),
    ],
)
def test_an_answer_a_page_cannot_use_says_why(body, said):
    with pytest.raises(SdpError, match=said):
        parse_answer(body)


LINES = [
    b"v=0",
    b"c=IN IP4 10.0.0.1",
    b"c=IN IP6 ::1",
    b"m=audio 5004 RTP/AVP 0 101",
    b"m=audio 0 RTP/AVP 0",
    b"a=rtpmap:101 telephone-event/8000",
    b"a=rtpmap:x",
    b"m=audio",
    b"c=",
    b"\xff",
    b"m=audio 1\xc2\xb2 R 0",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(LINES), st.binary(max_size=30)), max_size=12))
def test_no_answer_makes_the_reader_raise_anything_but_its_own_error(lines):
    try:
        answer = parse_answer(b"\r\n".join(lines))
    except SdpError:
        return
    assert 0 < answer.port < 65_536
