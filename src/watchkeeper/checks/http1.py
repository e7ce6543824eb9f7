"""A lean HTTP/1.1 client for the probes' plain http:// requests, its connections kept alive.

Why not httpx for these: a probe is one small request, and httpx spends 1 to 3 ms of CPU
on each (its pool looks at every open connection on every request), some twenty times
what the exchange itself costs; 10,000 probes a minute on one process need well under
1 ms. What this client does not do it leaves to httpx, by raising `Unsupported` before it
has judged anything: https, a proxy from the environment, a redirect to follow, a body
in a content encoding. The caller then sends the request through httpx, so a probe's
result never depends on which client answered it.
"""

from __future__ import annotations

import asyncio
import codecs
import urllib.request
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024  # a status line and headers longer than this are not an answer
IDLE_PER_ORIGIN = 16  # connections kept open to one host when none is in use
IDLE_ALL = 1000
REDIRECTS = {301, 302, 303, 307, 308}
_NO_BODY = {204, 304}

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Unsupported(Exception):
    """Something this client leaves to httpx."""


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as it should be."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case; a repeated header's values joined by ", "
    body: bytes  # at most the caller's limit
    encoding: str


class Pool:
    """Kept-alive connections by origin (host, port). Belongs to one event loop."""

    def __init__(self, *, user_agent: str = "watchkeeper") -> None:
        self.user_agent = user_agent
        self._idle: dict[tuple[str, int], deque[Connection]] = {}
        self._count = 0
        # A proxy from the environment is httpx's to honour (with its no_proxy rules).
        self._proxied = bool(urllib.request.getproxies())

    def takes(self, url: str) -> bool:
        return not self._proxied and url[:7].lower() == "http://"

    async def request(
        self, method: str, url: str, headers: tuple[tuple[str, str], ...], *, limit: int, redirects: bool
    ) -> Answer:
        """The answer to one request; `Unsupported` for what httpx must do instead."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        message = self._message(method, target, parts.netloc, headers)
        origin = (host, port)
        while (reused := self._take(origin)) is not None:
            try:
                return await self._exchange(origin, reused, message, method, limit, redirects)
            except _Stale:
                continue  # the server closed a kept connection as we sent on it: a fresh one
        connection = await asyncio.open_connection(host, port)
        try:
            return await self._exchange(origin, connection, message, method, limit, redirects)
        except _Stale:
            raise ProtocolError("Server disconnected without sending a response.") from None

    def _message(self, method: str, target: str, netloc: str, headers: tuple[tuple[str, str], ...]) -> bytes:
        given = {name.lower() for name, _ in headers}
        lines = [f"{method} {target} HTTP/1.1"]
        defaults = (
            ("Host", netloc),
            ("Accept", "*/*"),
            ("Accept-Encoding", "identity"),
            ("User-Agent", self.user_agent),
        )
        lines += [f"{name}: {value}" for name, value in defaults if name.lower() not in given]
        for name, value in headers:
            if any(c in name + value for c in "\r\n"):
                raise ProtocolError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")

    def _take(self, origin: tuple[str, int]) -> Connection | None:
        idle = self._idle.get(origin)
        while idle:
            reader, writer = idle.pop()
            self._count -= 1
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    def _keep(self, origin: tuple[str, int], connection: Connection) -> None:
        idle = self._idle.setdefault(origin, deque())
        if len(idle) >= IDLE_PER_ORIGIN or self._count >= IDLE_ALL:
            connection[1].close()
            return
        idle.append(connection)
        self._count += 1

    async def _exchange(
        self, origin: tuple[str, int], connection: Connection, message: bytes, method: str, limit: int, redirects: bool
    ) -> Answer:
        reader, writer = connection
        kept = False
        try:
            writer.write(message)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _Stale from None
                raise ProtocolError("Server disconnected mid-answer.") from None
            except asyncio.LimitOverrunError:
                raise ProtocolError("the answer's headers are too long") from None
            except (ConnectionResetError, BrokenPipeError):
                raise _Stale from None
            status, headers, keeps = _parse_head(head)
            if redirects and status in REDIRECTS and "location" in headers:
                raise Unsupported("a redirect to follow")
            if headers.get("content-encoding", "identity").lower() != "identity":
                raise Unsupported("a body in a content encoding")
            body, whole = await _body(reader, method, status, headers, limit)
            kept = whole and keeps
            return Answer(status, headers, body, _charset(headers.get("content-type", "")))
        finally:
            if kept:
                self._keep(origin, connection)
            else:
                writer.close()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for _, writer in idle:
                writer.close()
        self._idle.clear()
        self._count = 0


class _Stale(Exception):
    """Nothing came back on the connection: it was closed before the request reached the server."""


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, headers, and whether the server keeps the connection open after this answer."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError(f"not a header line: {line[:80]!r}")
        key, value = name.strip().lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    said = headers.get("connection", "").lower()
    keeps = "keep-alive" in said if version == "HTTP/1.0" else "close" not in said
    return int(code), headers, keeps


async def _body(
    reader: asyncio.StreamReader, method: str, status: int, headers: dict[str, str], limit: int
) -> tuple[bytes, bool]:
    """The body (at most `limit` bytes), and whether all of it was read (the connection can be kept)."""
    if method.upper() == "HEAD" or status < 200 or status in _NO_BODY:
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _chunked(reader, limit)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ProtocolError(f"Content-Length {length!r} is not a number")
        size = int(length)
        try:
            return await reader.readexactly(min(size, limit)), size <= limit
        except asyncio.IncompleteReadError:
            raise ProtocolError("Server disconnected mid-answer.") from None
    body = bytearray()  # to the end of the connection
    while len(body) < limit and (chunk := await reader.read(min(65536, limit - len(body)))):
        body += chunk
    return bytes(body), False


async def _chunked(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    body = bytearray()
    try:
        while True:
            line = await reader.readuntil(b"\r\n")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"not a chunk size: {size_text[:20]!r}") from None
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return bytes(body), True
            room = limit - len(body)
            if size > room:
                body += await reader.readexactly(room)
                return bytes(body), False
            body += await reader.readexactly(size + 2)
            del body[-2:]
    except asyncio.IncompleteReadError:
        raise ProtocolError("Server disconnected mid-answer.") from None


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break  # a charset Python does not know: read as UTF-8, as httpx does
    return "utf-8"
