"""SIP OPTIONS, the ping of telephony (RFC 3261 section 11): a PBX, proxy or trunk
that answers OPTIONS with a 2xx is up, one that answers 4xx/5xx/6xx or not at all
within the timeout is down.

The message is built and read here rather than by a SIP stack because a probe
needs one transaction of one request: the Via branch, Call-ID and CSeq it sent
are what tell its final answer from a provisional one, a retransmission's
duplicate or a stray datagram. Reading is strict about structure and lenient
about spelling (compact header names, folded lines, bare LF), and every way a
message can be wrong is a `SipError`, never another exception.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from watchkeeper.checks.result import ProbeKind, ProbeResult
from watchkeeper.clock import SystemClock, monotonic
from watchkeeper.errors import Invalid

T1 = 0.5  # RFC 3261 17.1.2.2: the first retransmission of a non-INVITE request over UDP, doubling...
T2 = 4.0  # ...up to T2, and at T2 once a provisional answer says the request arrived.
MAX_HEAD = 65_536
MAX_BODY = 1_048_576
USER_AGENT = "watchkeeper"

# RFC 3261 7.3.3, plus the compact forms of the extensions a PBX commonly sends.
COMPACT = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9]{2})(?: (.*))?", re.IGNORECASE)
_LENGTH = re.compile(r"[0-9]{1,10}")
_VIA = re.compile(r"SIP\s*/\s*2\.0\s*/\s*[A-Za-z]+\s+[^;\s]+.*", re.IGNORECASE | re.DOTALL)
_BRANCH = re.compile(r";\s*branch\s*=\s*([^;\s]+)", re.IGNORECASE)
_CSEQ = re.compile(r"([0-9]{1,10})\s+(\S+)")
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_HOST = re.compile(r"[A-Za-z0-9.:\-\[\]]+")


class SipError(ValueError):
    """Bytes that are not a SIP message as RFC 3261 writes one; the text says what is wrong."""


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"


def canonical(name: str) -> str:
    """The one spelling of a header name: lower case, a compact form written out."""
    name = name.lower()
    return COMPACT.get(name, name)


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class Options:
    """One OPTIONS request: where it goes, where its answers come back, and the ids its answer must carry."""

    host: str
    port: int
    transport: Transport
    local_host: str
    local_port: int
    branch: str
    call_id: str
    tag: str
    user: str | None = None

    @property
    def uri(self) -> str:
        target = f"{_uri_host(self.host)}:{self.port}"
        return f"sip:{self.user}@{target}" if self.user else f"sip:{target}"

    def encode(self) -> bytes:
        here = f"{_uri_host(self.local_host)}:{self.local_port}"
        on_tcp = ";transport=tcp" if self.transport is Transport.TCP else ""
        lines = [
            f"OPTIONS {self.uri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport.value.upper()} {here};branch={self.branch};rport",
            "Max-Forwards: 70",
            f"To: <{self.uri}>",
            f"From: <sip:{USER_AGENT}@{_uri_host(self.local_host)}>;tag={self.tag}",
            f"Call-ID: {self.call_id}",
            "CSeq: 1 OPTIONS",
            f"Contact: <sip:{USER_AGENT}@{here}{on_tcp}>",
            "Accept: application/sdp",
            f"User-Agent: {USER_AGENT}",
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def new_options(
    host: str, port: int, transport: Transport, local: tuple[str, int], *, user: str | None = None
) -> Options:
    """An OPTIONS with fresh ids: the branch is unique across space and time (RFC 3261 8.1.1.7)
    and starts with the magic cookie that says its sender follows RFC 3261."""
    return Options(
        host=host,
        port=port,
        transport=transport,
        local_host=local[0],
        local_port=local[1],
        branch="z9hG4bK" + secrets.token_hex(12),
        call_id=secrets.token_hex(16),
        tag=secrets.token_hex(8),
        user=user,
    )


def _split_commas(value: str) -> list[str]:
    """Values of one header line written as a comma-separated list; commas in quotes stay."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


class _Headers:
    """What requests and responses read alike: their headers."""

    headers: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        key = canonical(name)
        return next((value for header, value in self.headers if header == key), None)

    def get_all(self, name: str) -> list[str]:
        """Every value of a header that may be a list (Via, Record-Route), in order, whether
        on lines of their own or comma-separated on one."""
        key = canonical(name)
        return [part for header, value in self.headers if header == key for part in _split_commas(value)]

    @property
    def vias(self) -> list[str]:
        return self.get_all("via")

    @property
    def branch(self) -> str | None:
        vias = self.vias
        found = _BRANCH.search(vias[0]) if vias else None
        return found.group(1) if found else None

    @property
    def cseq(self) -> tuple[int, str] | None:
        found = _CSEQ.fullmatch(self.get("cseq") or "")
        return (int(found.group(1)), found.group(2)) if found else None


@dataclass(frozen=True)
class Response(_Headers):
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @property
    def final(self) -> bool:
        return self.status >= 200

    def answers(self, request: Options) -> bool:
        """Whether this is an answer to `request` (RFC 3261 17.1.3: the top Via's branch and the
        CSeq method; the Call-ID too). A response with more than one Via was not meant for its
        sender, which is the last hop, and is discarded (8.1.3.3)."""
        return (
            len(self.vias) == 1
            and self.branch == request.branch
            and self.get("call-id") == request.call_id
            and self.cseq == (1, "OPTIONS")
        )


def _head_end(data: bytes | bytearray) -> tuple[int, int]:
    """Where the header section ends and how long the empty line after it is; (-1, 0) if not yet."""
    ends = [(data.find(sep), len(sep)) for sep in (b"\r\n\r\n", b"\n\n")]
    found = [end for end in ends if end[0] >= 0]
    return min(found) if found else (-1, 0)


def _read_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The start line and the headers (canonical names, folded lines unfolded) of a header section."""
    lines = re.split(r"\r?\n", head.decode("utf-8", errors="replace"))
    headers: list[tuple[str, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipError(f"line {number} continues a header, but no header came before it")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.fullmatch(name):
            raise SipError(f"line {number} is not a header ('Name: value'): {line[:60]!r}")
        headers.append((canonical(name), value.strip()))
    return lines[0], headers


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    values = {value for name, value in headers if name == "content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise SipError(f"Content-Length given twice with different values: {', '.join(sorted(values))}")
    (value,) = values
    if not _LENGTH.fullmatch(value):
        raise SipError(f"Content-Length is not a number of bytes: {value[:20]!r}")
    if int(value) > MAX_BODY:
        raise SipError(f"Content-Length {value} is more than the {MAX_BODY} bytes a SIP answer may have here")
    return int(value)


def parse_response(data: bytes) -> Response:
    """A SIP response from one message's bytes (a datagram, or a frame `StreamReader` cut).

    Over UDP the Content-Length may be missing (the body is the rest of the datagram),
    and a body shorter than it says is refused (RFC 3261 18.3)."""
    data = data.lstrip(b"\r\n")
    end, sep = _head_end(data)
    if end < 0:
        raise SipError("the header section does not end with an empty line")
    start, headers = _read_head(data[:end])
    status = _STATUS_LINE.fullmatch(start)
    if status is None:
        raise SipError(f"not a SIP/2.0 response status line: {start[:60]!r}")
    rest = data[end + sep :]
    length = _content_length(headers)
    if length is not None and length > len(rest):
        raise SipError(f"Content-Length says {length} bytes, but the body has {len(rest)}")
    for name in ("via", "call-id", "cseq"):
        if not any(header == name for header, _ in headers):
            raise SipError(f"a response without the {name.title()} header every response carries")
    response = Response(int(status.group(1)), status.group(2) or "", tuple(headers), b"")
    for via in response.vias:
        if not _VIA.fullmatch(via):
            raise SipError(f"a Via that is not 'SIP/2.0/transport host;params': {via[:60]!r}")
    return replace(response, body=rest if length is None else rest[:length])


@dataclass(frozen=True)
class Request(_Headers):
    method: str
    uri: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


_REQUEST_LINE = re.compile(r"([A-Za-z]+) (\S+) SIP/2\.0", re.IGNORECASE)


def parse_message(data: bytes) -> Request | Response:
    """A SIP request or response from one message's bytes, read as `parse_response` reads one."""
    stripped = data.lstrip(b"\r\n")
    if stripped[:8].upper() == b"SIP/2.0 ":
        return parse_response(stripped)
    end, sep = _head_end(stripped)
    if end < 0:
        raise SipError("the header section does not end with an empty line")
    start, headers = _read_head(stripped[:end])
    line = _REQUEST_LINE.fullmatch(start)
    if line is None:
        raise SipError(f"neither a SIP/2.0 request line nor a status line: {start[:60]!r}")
    rest = stripped[end + sep :]
    length = _content_length(headers)
    if length is not None and length > len(rest):
        raise SipError(f"Content-Length says {length} bytes, but the body has {len(rest)}")
    for name in ("via", "call-id", "cseq", "from", "to"):
        if not any(header == name for header, _ in headers):
            raise SipError(f"a request without the {name.title()} header every request carries")
    body = rest if length is None else rest[:length]
    return Request(line.group(1).upper(), line.group(2), tuple(headers), body)


class StreamReader:
    """Cuts the messages out of the bytes of a stream transport (TCP), where Content-Length
    alone says where one message ends (RFC 3261 18.3); the bytes may arrive in any pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The messages `data` completes, in order; what is left waits for the next piece."""
        self._buffer += data
        messages = []
        while (message := self._next()) is not None:
            messages.append(message)
        return messages

    def _next(self) -> bytes | None:
        # Empty lines between messages are keep-alives (RFC 5626 4.4.1), not a message.
        while self._buffer and self._buffer[0] in b"\r\n":
            del self._buffer[:1]
        end, sep = _head_end(self._buffer)
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise SipError(f"no end of the header section in the first {MAX_HEAD} bytes")
            return None
        _, headers = _read_head(bytes(self._buffer[:end]))
        length = _content_length(headers)
        if length is None:
            raise SipError("a message on a stream without the Content-Length that says where it ends")
        total = end + sep + length
        if len(self._buffer) < total:
            return None
        message = bytes(self._buffer[:total])
        del self._buffer[:total]
        return message


class _Down(Exception):
    """The probe ended without a final answer; the text says why."""


class _Answers(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.request: Options | None = None
        self.final: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.proceeding = False

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.request is None or self.final.done():
            return
        try:
            response = parse_response(data)
        except SipError:
            return  # RFC 3261 18.1.2: a malformed response is discarded; the request is retransmitted
        if not response.answers(self.request):
            return
        if response.final:
            self.final.set_result(response)
        else:
            self.proceeding = True

    def error_received(self, exc: Exception) -> None:
        # An ICMP port unreachable: nothing listens there, no need to wait for the timeout.
        if not self.final.done():
            self.final.set_exception(exc)


async def _over_udp(host: str, port: int, user: str | None) -> tuple[Response, float]:
    loop = asyncio.get_running_loop()
    transport, answers = await loop.create_datagram_endpoint(_Answers, remote_addr=(host, port))
    try:
        local = transport.get_extra_info("sockname")
        request = answers.request = new_options(host, port, Transport.UDP, (local[0], local[1]), user=user)
        data, sent, interval = request.encode(), monotonic(), T1
        while True:
            transport.sendto(data)
            done, _ = await asyncio.wait({answers.final}, timeout=interval)
            if done:
                return answers.final.result(), monotonic() - sent
            interval = T2 if answers.proceeding else min(2 * interval, T2)
    finally:
        transport.close()
        if not answers.final.done():
            answers.final.cancel()


async def _over_tcp(host: str, port: int, user: str | None) -> tuple[Response, float]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        local = writer.get_extra_info("sockname")
        request = new_options(host, port, Transport.TCP, (local[0], local[1]), user=user)
        writer.write(request.encode())
        sent, frames = monotonic(), StreamReader()
        await writer.drain()
        while chunk := await reader.read(65_536):
            for message in frames.feed(chunk):
                with suppress(SipError):  # a request or unreadable message between framed ones is skipped
                    response = parse_response(message)
                    if response.final and response.answers(request):
                        return response, monotonic() - sent
        raise _Down("the server closed the connection before a final answer")
    finally:
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()


def check_options(host: str, port: int, transport: str, timeout: float, user: str | None) -> Transport:
    """The transport of an OPTIONS probe with these options; Invalid saying what is wrong."""
    if not _HOST.fullmatch(host):
        raise Invalid(f"host {host!r} is not a host name or IP address")
    if not 0 < port < 65_536:
        raise Invalid(f"port {port} is not between 1 and 65535")
    if user is not None and not _USER.fullmatch(user):
        raise Invalid(f"user {user!r} is not the user part of a SIP URI")
    if not timeout > 0:
        raise Invalid(f"timeout {timeout} must be more than 0 seconds")
    try:
        return Transport(transport.lower())
    except ValueError:
        raise Invalid(f"transport {transport!r} is not one of: udp, tcp") from None


def _result(response: Response, latency: float, transport: Transport, target: str, at: datetime) -> ProbeResult:
    detail: dict[str, str | int] = {"transport": transport.value, "status": response.status, "reason": response.reason}
    server = response.get("server") or response.get("user-agent")
    if server:
        detail["server"] = server
    up = 200 <= response.status < 300
    error = "" if up else f"{response.status} {response.reason}".strip()
    return ProbeResult(ProbeKind.SIP, target, up, latency, at, error, detail)


async def options_probe(
    host: str,
    port: int,
    transport: str = "udp",
    timeout: float = 5.0,
    *,
    user: str | None = None,
    at: datetime | None = None,
) -> ProbeResult:
    """Send one OPTIONS to `sip:[user@]host:port` and wait up to `timeout` seconds for its final answer.

    Over UDP the request is retransmitted at T1, doubling, until the timeout; provisional
    (1xx) answers and answers to other requests are ignored. Never raises for what the far
    end does: a refusal, a timeout or an unreadable answer is a result that is down. The
    result's detail has the final answer's `status` (a number) and `reason`; `at` is when
    the probe ran (now, unless the caller says).
    """
    kind = check_options(host, port, transport, timeout, user)
    at = at or SystemClock().now()
    target = f"{host}:{port}"
    host = host.removeprefix("[").removesuffix("]")  # an IPv6 address as a URI writes it
    down = {"transport": kind.value}

    def failed(error: str) -> ProbeResult:
        return ProbeResult(ProbeKind.SIP, target, False, None, at, error, dict(down))

    try:
        async with asyncio.timeout(timeout):
            send = _over_udp if kind is Transport.UDP else _over_tcp
            response, latency = await send(host, port, user)
    except TimeoutError:
        return failed(f"no final answer within {timeout:g} s")
    except _Down as exc:
        return failed(str(exc))
    except SipError as exc:
        return failed(f"unreadable answer: {exc}")
    except ConnectionRefusedError:
        return failed(f"refused: nothing listens on {host}:{port} over {kind.value}")
    except OSError as exc:
        return failed(f"{host}:{port} over {kind.value}: {exc.strerror or exc}")
    return _result(response, latency, kind, target, at)
