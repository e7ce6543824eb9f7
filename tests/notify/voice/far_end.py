"""The operator's trunk and the phones behind it, in this process: what a page meets on the
other side, for tests that must not start Kamailio and baresip (see phones.py for those).

It speaks the UAS side of RFC 3261 as a trunk that routes to a phone does: 100 Trying and
180 Ringing at once, 200 OK with an SDP answer after the phone's ring time (sent again until
the ACK comes, 13.3.1.4), 487 to an INVITE it is CANCELled out of, 200 to BYE; and the key
the person presses, either as RFC 4733 telephone-events in RTP to the address of the offer
(start, continuation, three end packets sharing one timestamp) or as a SIP INFO with an
`application/dtmf-relay` body to the caller's Contact.

It runs its own event loop in a thread, so the code under test places calls with its own
loop (`asyncio.run`), as the due jobs do.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field

from watchkeeper.checks.sip import Request, SipError, parse_message
from watchkeeper.notify.voice.media import EVENTS, RtpPacket


@dataclass(frozen=True)
class Person:
    """How the phone of one number behaves: it rings `ring` seconds, then is answered and `key`
    pressed `wait` seconds later (None: nothing pressed), sent as `dtmf` ("rtp" or "info")."""

    ring: float = 0.2
    key: str | None = "1"
    wait: float = 0.3
    dtmf: str = "rtp"


@dataclass
class Call:
    number: str
    invited: float  # time.monotonic() of the INVITE
    answered: float | None = None
    acked: float | None = None
    key_sent: str | None = None
    bye: float | None = None
    cancelled: bool = False


@dataclass
class _Dialog:
    invite: Request
    addr: tuple[str, int]
    call: Call
    person: Person
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    ok: bytes | None = None


def _message(start: str, headers: list[tuple[str, str]], body: bytes = b"", kind: str | None = None) -> bytes:
    rows = [start, *(f"{name}: {value}" for name, value in headers)]
    if kind:
        rows.append(f"Content-Type: {kind}")
    rows.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(rows) + "\r\n\r\n").encode() + body


def _number(uri: str) -> str:
    return uri.removeprefix("sip:").split("@")[0]


class FarEnd(asyncio.DatagramProtocol):
    def __init__(self, people: dict[str, Person] | None = None, default: Person | None = None) -> None:
        self.people = people or {}
        self.default = default or Person()
        self.calls: list[Call] = []
        self._dialogs: dict[str, _Dialog] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._sip: asyncio.DatagramTransport | None = None
        self._media: asyncio.DatagramTransport | None = None
        self.port = 0

    # -- running ----------------------------------------------------------------------------

    def __enter__(self) -> FarEnd:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            for transport in (self._sip, self._media):
                if transport is not None:
                    transport.close()
            left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _open(self) -> None:
        self._sip, _ = await self._loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self._media, _ = await self._loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        self.port = self._sip.get_extra_info("sockname")[1]

    @property
    def url(self) -> str:
        """The trunk as WATCHKEEPER_VOICE_TRUNK names it."""
        return f"sip://watchkeeper@127.0.0.1:{self.port}"

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._sip is not None and not self._sip.is_closing():
            self._sip.sendto(data, addr)

    # -- what comes in ----------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            message = parse_message(data)
        except SipError:
            return
        if not isinstance(message, Request):
            return  # the caller's 200 to our INFO
        where = (str(addr[0]), int(addr[1]))
        dialog = self._dialogs.get(message.get("call-id") or "")
        if message.method == "INVITE" and dialog is None:
            self._invited(message, where)
        elif message.method == "INVITE" and dialog is not None and dialog.ok is None:
            self._send(self._reply(dialog, message, 180, "Ringing"), where)  # a retransmission
        elif dialog is None:
            self._send(self._reply(None, message, 481, "Call/Transaction Does Not Exist"), where)
        elif message.method == "ACK":
            if dialog.call.acked is None and dialog.ok is not None:
                dialog.call.acked = time.monotonic()
                self._loop.create_task(self._press(dialog))
        elif message.method == "CANCEL":
            self._send(self._reply(dialog, message, 200, "OK"), where)
            if dialog.ok is None:
                dialog.call.cancelled = True
                self._send(self._reply(dialog, dialog.invite, 487, "Request Terminated"), where)
        elif message.method == "BYE":
            dialog.call.bye = time.monotonic()
            self._send(self._reply(dialog, message, 200, "OK"), where)
        else:
            self._send(self._reply(dialog, message, 200, "OK"), where)

    def _invited(self, invite: Request, addr: tuple[str, int]) -> None:
        number = _number(invite.uri)
        call = Call(number, time.monotonic())
        self.calls.append(call)
        dialog = _Dialog(invite, addr, call, self.people.get(number, self.default))
        self._dialogs[invite.get("call-id") or ""] = dialog
        self._send(self._reply(None, invite, 100, "Trying"), addr)
        self._send(self._reply(dialog, invite, 180, "Ringing"), addr)
        self._loop.create_task(self._answer(dialog))

    def _reply(self, dialog: _Dialog | None, request: Request, status: int, reason: str, body: bytes = b"") -> bytes:
        to = request.get("to") or ""
        if dialog is not None and ";tag=" not in to:
            to += f";tag={dialog.tag}"
        number = _number(request.uri)
        headers = [
            *(("Via", via) for via in request.vias),
            ("From", request.get("from") or ""),
            ("To", to),
            ("Call-ID", request.get("call-id") or ""),
            ("CSeq", request.get("cseq") or ""),
            ("Contact", f"<sip:{number}@127.0.0.1:{self.port}>"),
        ]
        return _message(f"SIP/2.0 {status} {reason}", headers, body, "application/sdp" if body else None)

    # -- the phone ----------------------------------------------------------------------------

    async def _answer(self, dialog: _Dialog) -> None:
        await asyncio.sleep(dialog.person.ring)
        if dialog.call.cancelled:
            return
        media = self._media.get_extra_info("sockname")[1] if self._media is not None else 0
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {media} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        ).encode()
        dialog.ok = self._reply(dialog, dialog.invite, 200, "OK", sdp)
        dialog.call.answered = time.monotonic()
        interval = 0.5
        while dialog.call.acked is None and dialog.call.bye is None:  # 13.3.1.4: until the ACK comes
            self._send(dialog.ok, dialog.addr)
            await asyncio.sleep(interval)
            interval = min(2 * interval, 4.0)

    async def _press(self, dialog: _Dialog) -> None:
        key = dialog.person.key
        if key is None:
            return
        await asyncio.sleep(dialog.person.wait)
        if dialog.call.bye is not None:
            return
        dialog.call.key_sent = key
        if dialog.person.dtmf == "info":
            self._info(dialog, key)
        else:
            await self._tone(dialog, key)

    def _info(self, dialog: _Dialog, key: str) -> None:
        invite = dialog.invite
        caller = re.sub(r"^.*<([^>]*)>.*$", r"\1", invite.get("contact") or "")
        headers = [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport"),
            ("Max-Forwards", "70"),
            ("From", f"{invite.get('to')};tag={dialog.tag}"),
            ("To", invite.get("from") or ""),
            ("Call-ID", invite.get("call-id") or ""),
            ("CSeq", "1 INFO"),
        ]
        body = f"Signal={key}\r\nDuration=160\r\n".encode()
        self._send(_message(f"INFO {caller} SIP/2.0", headers, body, "application/dtmf-relay"), dialog.addr)

    async def _tone(self, dialog: _Dialog, key: str) -> None:
        """One press as a phone sends it (RFC 4733 2.5): the start with the marker, a continuation,
        then the end three times, all with the start's timestamp."""
        host, port, event_type = _media_of(dialog.invite.body)
        ssrc, sequence, stamp = secrets.randbits(32), secrets.randbits(16), secrets.randbits(32)
        event = EVENTS.index(key)
        for number, (end, duration) in enumerate([(False, 160), (False, 320), (True, 480), (True, 480), (True, 480)]):
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
            packet = RtpPacket(event_type, sequence + number, stamp, ssrc, payload, marker=number == 0)
            if self._media is not None:
                self._media.sendto(packet.encode(), (host, port))
            await asyncio.sleep(0.02)


def _media_of(offer: bytes) -> tuple[str, int, int]:
    """Where the offer wants its audio, and its telephone-event payload type."""
    text = offer.decode()
    host = re.search(r"^c=IN IP4 (\S+)", text, re.MULTILINE)
    port = re.search(r"^m=audio (\d+)", text, re.MULTILINE)
    event = re.search(r"^a=rtpmap:(\d+) telephone-event/8000", text, re.MULTILINE)
    assert host and port and event, f"an offer without the audio a page needs:\n{text}"
    return host.group(1), int(port.group(1)), int(event.group(1))
