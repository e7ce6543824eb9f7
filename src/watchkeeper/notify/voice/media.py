"""The media of a page: G.711 µ-law samples (ITU-T G.711), RTP packets (RFC 3550) and the
telephone-event payload a phone sends its keys in (RFC 4733).

Pure functions and small state machines only; the sockets are in `call`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SAMPLE_RATE = 8_000
FRAME = 160  # 20 ms of 8 kHz samples: the ptime every G.711 phone takes
PCMU = 0
SILENCE = 0xFF  # µ-law of 0
_BIAS = 0x21  # 0x84 in 16-bit terms
_CLIP = 8_159  # 32_635 in 16-bit terms
EVENTS = "0123456789*#ABCD"  # RFC 4733 3.2: events 0-15 are the DTMF keys


def ulaw(sample: int) -> int:
    """The µ-law byte of one signed 16-bit sample, as G.711's reference encoder computes it:
    14 significant bits (an arithmetic shift, so -1 is the smallest negative), biased,
    segment and mantissa, every bit inverted and the sign bit clear for negatives."""
    value = sample >> 2
    mask = 0x7F if value < 0 else 0xFF
    magnitude = min(-value if value < 0 else value, _CLIP) + _BIAS
    segment = magnitude.bit_length() - 6
    if segment > 7:  # only the loudest sample, 8159 + bias, falls past the last segment
        return 0x7F ^ mask
    return ((segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)) ^ mask


_TABLE = bytes(ulaw(value - 65_536 if value >= 32_768 else value) for value in range(65_536))


def encode_pcm16(pcm: bytes) -> bytes:
    """µ-law bytes of little-endian signed 16-bit mono samples (an odd last byte is dropped)."""
    count = len(pcm) // 2
    samples = struct.unpack(f"<{count}H", pcm[: count * 2])
    return bytes(_TABLE[sample] for sample in samples)


def frames(audio: bytes) -> list[bytes]:
    """`audio` cut in 20 ms frames, the last padded with silence."""
    padded = audio + bytes([SILENCE]) * (-len(audio) % FRAME)
    return [padded[start : start + FRAME] for start in range(0, len(padded), FRAME)]


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def encode(self) -> bytes:
        """RFC 3550 5.1: version 2, no padding, extension or CSRC."""
        first = 0x80
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        header = struct.pack("!BBHII", first, second, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc)
        return header + self.payload


class RtpError(ValueError):
    """Bytes that are not an RTP packet."""


def parse_rtp(data: bytes) -> RtpPacket:
    """An RTP packet from a datagram; CSRCs, a header extension and padding are stepped over."""
    if len(data) < 12:
        raise RtpError(f"{len(data)} bytes is shorter than an RTP header")
    first, second, sequence, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
    if first >> 6 != 2:
        raise RtpError(f"RTP version {first >> 6}, not 2")
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < start + 4:
            raise RtpError("a header extension cut short")
        (words,) = struct.unpack("!H", data[start + 2 : start + 4])
        start += 4 + 4 * words
    end = len(data)
    if first & 0x20:
        end -= data[-1]
    if start > end:
        raise RtpError("the headers are longer than the packet")
    return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, data[start:end], bool(second & 0x80))


@dataclass(frozen=True)
class ToneEvent:
    """One RFC 4733 telephone-event payload (section 2.3): the key, whether the key was let go,
    and how long it has been held, in timestamp units."""

    event: int
    end: bool
    volume: int
    duration: int

    @property
    def key(self) -> str | None:
        return EVENTS[self.event] if self.event < len(EVENTS) else None


def parse_event(payload: bytes) -> ToneEvent:
    if len(payload) < 4:
        raise RtpError(f"a telephone-event payload of {len(payload)} bytes, not 4")
    event, flags, duration = struct.unpack("!BBH", payload[:4])
    return ToneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


class KeyPresses:
    """The keys a stream of telephone-event packets says were pressed, each once.

    A key is taken at its first end packet: RFC 4733 2.5.1.4 has the sender repeat the end
    packet (three times, commonly) with the same timestamp, and all packets of one press share
    the timestamp of its start, so a timestamp seen once is never a second press."""

    def __init__(self, payload_type: int) -> None:
        self.payload_type = payload_type
        self._done: set[tuple[int, int]] = set()

    def feed(self, packet: RtpPacket) -> str | None:
        if packet.payload_type != self.payload_type:
            return None
        tone = parse_event(packet.payload)
        press = (packet.ssrc, packet.timestamp)
        if not tone.end or press in self._done or tone.key is None:
            return None
        self._done.add(press)
        return tone.key


def dtmf_relay_key(content_type: str, body: bytes) -> str | None:
    """The key of a SIP INFO (the de facto `application/dtmf-relay` body "Signal=1", or
    `application/dtmf` with the key alone) or None if it carries none."""
    kind = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", errors="replace")
    if kind == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                text = value
                break
        else:
            return None
    elif kind != "application/dtmf":
        return None
    key = text.strip().upper()
    if key.isascii() and key.isdigit() and len(key) <= 2 and int(key) < len(EVENTS):
        return EVENTS[int(key)]  # some phones send the event number
    return key if len(key) == 1 and key in EVENTS else None
