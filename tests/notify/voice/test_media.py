from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.notify.voice.media import (
    FRAME,
    SILENCE,
    KeyPresses,
    RtpError,
    RtpPacket,
    dtmf_relay_key,
    encode_pcm16,
    frames,
    parse_event,
    parse_rtp,
    ulaw,
)


@pytest.mark.parametrize(
    ("sample", "byte"),
    [
        (0, 0xFF),
        (1, 0xFF),
        (-1, 0x7E),
        (100, 0xF2),
        (-100, 0x72),
        (1000, 0xCE),
        (-1000, 0x4E),
        (8000, 0xA0),
        (-8000, 0x20),
        (32767, 0x80),
        (-32768, 0x00),
    ],
)
def test_ulaw_matches_the_g711_reference_encoder(sample, byte):
    # Values of the ITU-T G.711 reference (Sun's g711.c, which CPython's audioop.lin2ulaw also follows).
    assert ulaw(sample) == byte


def test_ulaw_is_louder_the_further_from_silence_on_either_side():
    positives = [ulaw(sample) for sample in range(0, 32768, 64)]
    negatives = [ulaw(-sample) for sample in range(1, 32768, 64)]
    assert positives == sorted(positives, reverse=True)
    assert negatives == sorted(negatives, reverse=True)
    assert all(byte >= 0x80 for byte in positives) and all(byte < 0x80 for byte in negatives)


def test_pcm16_is_encoded_sample_by_sample_little_endian():
    pcm = struct.pack("<4h", 0, 1000, -1000, 32767) + b"\x00"  # an odd byte at the end is dropped
    assert encode_pcm16(pcm) == bytes([0xFF, 0xCE, 0x4E, 0x80])


def test_audio_is_cut_in_20_ms_frames_the_last_padded_with_silence():
    cut = frames(b"\x01" * (FRAME * 2 + 10))
    assert [len(frame) for frame in cut] == [FRAME] * 3
    assert cut[2] == b"\x01" * 10 + bytes([SILENCE]) * (FRAME - 10)


def test_an_rtp_header_is_version_2_with_marker_type_sequence_timestamp_and_ssrc():
    packet = RtpPacket(0, 0x1234, 0xA0, 0xDEADBEEF, b"\xff" * FRAME, marker=True).encode()
    assert packet[:12] == bytes.fromhex("80 80 1234 000000a0 deadbeef")
    assert len(packet) == 12 + FRAME
    assert RtpPacket(101, 0x1_0001, 2**32 + 5, 1, b"").encode()[:12] == bytes.fromhex("80 65 0001 00000005 00000001")


def test_an_rtp_packet_reads_back_past_csrcs_an_extension_and_padding():
    header = bytes.fromhex("b1 65 0007 00000140 0000abcd") + b"CSRC" + bytes.fromhex("bede 0001") + b"EXT!"
    packet = parse_rtp(header + b"\x01\x8a\x0a\x00" + b"\x00\x00\x03")
    assert (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc) == (101, 7, 320, 0xABCD)
    assert packet.payload == b"\x01\x8a\x0a\x00" and not packet.marker


@pytest.mark.parametrize("data", [b"", b"\x80" * 11, bytes.fromhex("40 00 0000 00000000 00000000")])
def test_what_is_not_rtp_is_an_rtp_error(data):
    with pytest.raises(RtpError):
        parse_rtp(data)


def test_a_telephone_event_says_its_key_end_volume_and_duration():
    tone = parse_event(bytes.fromhex("01 8a 0a00"))
    assert (tone.key, tone.end, tone.volume, tone.duration) == ("1", True, 10, 2560)
    assert parse_event(bytes.fromhex("0b 0a 00a0")).key == "#"
    assert parse_event(bytes.fromhex("0a 0a 00a0")).key == "*"
    with pytest.raises(RtpError):
        parse_event(b"\x01\x8a")


def event(key: int, timestamp: int, *, end: bool, duration: int, payload_type: int = 101) -> RtpPacket:
    flags = (0x80 if end else 0) | 10
    return RtpPacket(payload_type, 0, timestamp, 42, struct.pack("!BBH", key, flags, duration))


def test_a_press_counts_once_at_its_end_however_often_the_end_is_repeated():
    keys = KeyPresses(101)
    stream = [event(1, 8000, end=False, duration=160 * n) for n in range(1, 5)]
    stream += [event(1, 8000, end=True, duration=800)] * 3  # RFC 4733 2.5.1.4: the end, three times
    stream += [event(1, 9600, end=False, duration=160), event(1, 9600, end=True, duration=480)]
    assert [keys.feed(packet) for packet in stream] == [None] * 4 + ["1", None, None, None, "1"]


def test_audio_and_other_payload_types_are_not_key_presses():
    keys = KeyPresses(96)
    assert keys.feed(RtpPacket(0, 1, 160, 42, b"\x01\x8a\x0a\x00")) is None
    assert keys.feed(event(1, 160, end=True, duration=800)) is None
    assert keys.feed(event(1, 160, end=True, duration=800, payload_type=96)) == "1"


@pytest.mark.parametrize(
    ("content_type", "body", "key"),
    [
        ("application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n", "1"),
        ("Application/DTMF-Relay; charset=utf-8", b"Signal= #\nDuration=250", "#"),
        ("application/dtmf-relay", b"Signal=11\r\n", "#"),  # the event number, as some phones write it
        ("application/dtmf", b"5", "5"),
        ("application/dtmf-relay", b"Duration=160\r\n", None),
        ("application/dtmf-relay", b"Signal=hello\r\n", None),
        ("text/plain", b"Signal=1", None),
    ],
)
def test_a_sip_info_key_is_read_from_its_body(content_type, body, key):
    assert dtmf_relay_key(content_type, body) == key


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_no_datagram_makes_the_rtp_reader_or_the_key_reader_raise_anything_but_its_own_error(data):
    keys = KeyPresses(101)
    try:
        packet = parse_rtp(data)
        keys.feed(packet)
    except RtpError:
        return
    assert packet.payload_type < 128


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20), st.sampled_from(["application/dtmf-relay", "application/dtmf"]))
def test_no_info_body_gives_anything_but_a_telephone_key_or_none(text, kind):
    key = dtmf_relay_key(kind, f"Signal={text}".encode() if kind.endswith("relay") else text.encode())
    assert key is None or key in "0123456789*#ABCD"
