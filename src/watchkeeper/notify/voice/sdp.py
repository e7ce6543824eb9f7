"""The session description of a page (RFC 4566, offer/answer as RFC 3264 writes it): one audio
stream of PCMU/8000 with telephone-event/8000 for the keys, and what the answer agreed to."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from watchkeeper.notify.voice.media import PCMU

EVENT_TYPE = 101  # a dynamic payload type (RFC 3551 3); the answer may name its own
_RTPMAP = re.compile(r"a=rtpmap:([0-9]{1,3})\s+([A-Za-z0-9_.-]+)/([0-9]+)", re.IGNORECASE)


class SdpError(ValueError):
    """An answer without the audio stream a page needs; the text says what is missing."""


def offer(host: str, port: int, session: int) -> bytes:
    family = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0",
        f"o=watchkeeper {session} {session} IN {family} {host}",
        "s=watchkeeper page",
        f"c=IN {family} {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {PCMU} {EVENT_TYPE}",
        f"a=rtpmap:{PCMU} PCMU/8000",
        f"a=rtpmap:{EVENT_TYPE} telephone-event/8000",
        f"a=fmtp:{EVENT_TYPE} 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(frozen=True)
class Answer:
    host: str
    port: int
    event_type: int | None


def parse_answer(body: bytes) -> Answer:
    """Where the far end wants its audio and which payload type carries its keys.

    A media-level c= line wins over the session-level one (RFC 4566 5.7)."""
    host: str | None = None
    port: int | None = None
    formats: list[str] = []
    event_type: int | None = None
    for line in body.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line.startswith("c="):
            parts = line[2:].split()
            if len(parts) >= 3:
                host = parts[2].split("/")[0]
        elif line.startswith("m=") and port is None:
            parts = line[2:].split()
            if len(parts) >= 4 and parts[0] == "audio" and parts[1].isascii() and parts[1].isdigit():
                port, formats = int(parts[1]), parts[3:]
        elif (found := _RTPMAP.match(line)) and found.group(2).lower() == "telephone-event":
            event_type = int(found.group(1))
    if port is None:
        raise SdpError("the answer has no audio stream (m=audio)")
    if port == 0:
        raise SdpError("the far end refused the audio stream (port 0)")
    if port > 65_535:
        raise SdpError(f"the answer's audio port {port} is not a port")
    if str(PCMU) not in formats:
        raise SdpError(f"the far end does not take PCMU (it offers payload types {' '.join(formats)})")
    if host is None:
        raise SdpError("the answer says no address for the audio (c=)")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SdpError(f"the answer's audio address {host[:60]!r} is not an IP address") from None
    return Answer(host, port, event_type if event_type is not None and str(event_type) in formats else None)
