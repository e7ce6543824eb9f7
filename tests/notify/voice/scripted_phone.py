"""A phone that does what a test tells it, for what baresip will not do on cue: send its key
as a SIP INFO, hang up first, or send its 200 twice. It registers to the real Kamailio and
takes calls through it, so watchkeeper's side still meets a real proxy.

It speaks the few lines of SIP a UAS needs (RFC 3261 8.2.6, 12.1.1) and nothing more."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from watchkeeper.checks.sip import Request, Response, SipError, parse_message


@dataclass
class Seen:
    requests: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    rtp_packets: int = 0

    def methods(self) -> list[str]:
        return [request.method for request in self.requests]


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[Request | Response]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self.queue.put_nowait(parse_message(data))
        except SipError:
            pass


class _Media(asyncio.DatagramProtocol):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.seen.rtp_packets += 1


def _lines(start: str, headers: list[tuple[str, str]], body: bytes = b"", kind: str | None = None) -> bytes:
    rows = [start, *(f"{name}: {value}" for name, value in headers)]
    if kind:
        rows.append(f"Content-Type: {kind}")
    rows.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(rows) + "\r\n\r\n").encode() + body


class ScriptedPhone:
    def __init__(self, user: str, registrar_port: int) -> None:
        self.user, self.proxy = user, ("127.0.0.1", registrar_port)
        self.queue: asyncio.Queue[Request | Response] = asyncio.Queue()
        self.seen = Seen()
        self.tag = secrets.token_hex(4)

    async def __aenter__(self) -> ScriptedPhone:
        loop = asyncio.get_running_loop()
        self.sip, _ = await loop.create_datagram_endpoint(lambda: _Endpoint(self.queue), local_addr=("127.0.0.1", 0))
        self.media, _ = await loop.create_datagram_endpoint(lambda: _Media(self.seen), local_addr=("127.0.0.1", 0))
        self.port = self.sip.get_extra_info("sockname")[1]
        self.rtp_port = self.media.get_extra_info("sockname")[1]
        await self._register()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sip.close()
        self.media.close()

    def via(self) -> str:
        return f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport"

    def send(self, data: bytes) -> None:
        self.sip.sendto(data, self.proxy)

    async def next(self, timeout: float = 10.0) -> Request | Response:
        message = await asyncio.wait_for(self.queue.get(), timeout)
        if isinstance(message, Request):
            self.seen.requests.append(message)
        else:
            self.seen.responses.append(message)
        return message

    async def request(self, method: str, timeout: float = 10.0) -> Request:
        while True:
            message = await self.next(timeout)
            if isinstance(message, Request) and message.method == method:
                return message

    async def _register(self) -> None:
        aor = f"sip:{self.user}@127.0.0.1"
        headers = [
            ("Via", self.via()),
            ("Max-Forwards", "70"),
            ("From", f"<{aor}>;tag={self.tag}"),
            ("To", f"<{aor}>"),
            ("Call-ID", secrets.token_hex(8)),
            ("CSeq", "1 REGISTER"),
            ("Contact", f"<sip:{self.user}@127.0.0.1:{self.port}>"),
            ("Expires", "60"),
        ]
        self.send(_lines(f"REGISTER sip:127.0.0.1:{self.proxy[1]} SIP/2.0", headers))
        answer = await self.next()
        assert isinstance(answer, Response) and answer.status == 200, answer

    def reply(self, request: Request, status: int, reason: str, body: bytes = b"") -> bytes:
        to = request.get("to") or ""
        if ";tag=" not in to:
            to += f";tag={self.tag}"
        headers = [
            *(("Via", via) for via in request.vias),
            *(("Record-Route", route) for route in request.get_all("record-route")),
            ("From", request.get("from") or ""),
            ("To", to),
            ("Call-ID", request.get("call-id") or ""),
            ("CSeq", request.get("cseq") or ""),
            ("Contact", f"<sip:{self.user}@127.0.0.1:{self.port}>"),
        ]
        return _lines(f"SIP/2.0 {status} {reason}", headers, body, "application/sdp" if body else None)

    def answer_sdp(self) -> bytes:
        return (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
        ).encode()

    async def answer(self, *, twice: bool = False) -> Request:
        """Ring and answer the next INVITE; return it once its ACK has come."""
        invite = await self.request("INVITE")
        self.send(self.reply(invite, 180, "Ringing"))
        ok = self.reply(invite, 200, "OK", self.answer_sdp())
        self.send(ok)
        await self.request("ACK")
        if twice:  # as if our ACK was lost: the 200 again, which must be ACKed again
            self.send(ok)
            await self.request("ACK")
        return invite

    def in_dialog(self, invite: Request, method: str, cseq: int, body: bytes = b"", kind: str | None = None) -> bytes:
        """A request from the called side: to the caller's Contact, through the route set
        in the order of the INVITE's Record-Route (RFC 3261 12.1.1)."""
        caller = (invite.get("contact") or "").strip("<>")
        headers = [
            ("Via", self.via()),
            ("Max-Forwards", "70"),
            *(("Route", route) for route in invite.get_all("record-route")),
            ("From", f"{invite.get('to')};tag={self.tag}"),
            ("To", invite.get("from") or ""),
            ("Call-ID", invite.get("call-id") or ""),
            ("CSeq", f"{cseq} {method}"),
        ]
        return _lines(f"{method} {caller} SIP/2.0", headers, body, kind)

    async def response(self, method: str) -> Response:
        while True:
            message = await self.next()
            if isinstance(message, Response) and (message.cseq or (0, ""))[1] == method:
                return message
