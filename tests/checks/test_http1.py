"""The probes' lean HTTP/1.1 client against a real asyncio server on loopback: kept
connections, chunked bodies, a kept connection the server closed, and what it leaves to httpx."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from watchkeeper.checks import http1


async def _serving(answer: Callable[[bytes], bytes], work: Callable[[str, list[int]], Awaitable[Any]]) -> Any:
    """Run `work(base_url, connections)` against a keep-alive server answering each request head
    with `answer(head)`; `connections` counts the connections it accepted."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                said = answer(head)
                if not said:
                    break
                writer.write(said)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        return await work(f"http://127.0.0.1:{port}", connections)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=latin-1\r\n\r\nok"


def test_requests_to_one_host_use_one_kept_connection() -> None:
    async def work(base: str, connections: list[int]) -> tuple[list[http1.Answer], int]:
        pool = http1.Pool()
        answers = [await pool.request("GET", f"{base}/{n}", (), limit=100, redirects=True) for n in range(5)]
        await pool.aclose()
        return answers, len(connections)

    answers, connections = asyncio.run(_serving(lambda head: OK, work))
    assert [(a.status, a.body, a.encoding) for a in answers] == [(200, b"ok", "iso8859-1")] * 5
    assert connections == 1


def test_a_chunked_body_is_read_whole_and_cut_at_the_limit() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"

    async def work(base: str, connections: list[int]) -> tuple[bytes, bytes, bytes]:
        pool = http1.Pool()
        whole = (await pool.request("GET", base, (), limit=100, redirects=True)).body
        cut = (await pool.request("GET", base, (), limit=7, redirects=True)).body
        after = (await pool.request("GET", base, (), limit=100, redirects=True)).body  # a new connection
        await pool.aclose()
        return whole, cut, after

    assert asyncio.run(_serving(lambda head: chunked, work)) == (b"hello world", b"hello w", b"hello world")


def test_a_kept_connection_the_server_closed_is_replaced_by_a_fresh_one() -> None:
    answered: list[int] = []

    def once_per_connection(head: bytes) -> bytes:
        answered.append(1)
        # Says keep-alive, then closes after its answer, as a server's idle timeout does.
        return OK if len(answered) % 2 else b""

    async def work(base: str, connections: list[int]) -> list[int]:
        pool = http1.Pool()
        statuses = []
        for _ in range(3):
            statuses.append((await pool.request("GET", base, (), limit=100, redirects=True)).status)
            await asyncio.sleep(0.01)
        await pool.aclose()
        return statuses

    assert asyncio.run(_serving(once_per_connection, work)) == [200, 200, 200]


@pytest.mark.parametrize(
    ("answer", "redirects"),
    [
        (b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nxx", False),
    ],
)
def test_a_redirect_to_follow_or_an_encoded_body_is_left_to_httpx(answer: bytes, redirects: bool) -> None:
    async def work(base: str, connections: list[int]) -> None:
        pool = http1.Pool()
        try:
            await pool.request("GET", base, (), limit=100, redirects=redirects)
        finally:
            await pool.aclose()

    with pytest.raises(http1.Unsupported):
        asyncio.run(_serving(lambda head: answer, work))


def test_a_redirect_not_followed_is_the_answer() -> None:
    redirect = b"HTTP/1.1 301 Moved\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"

    async def work(base: str, connections: list[int]) -> int:
        pool = http1.Pool()
        status = (await pool.request("GET", base, (), limit=100, redirects=False)).status
        await pool.aclose()
        return status

    assert asyncio.run(_serving(lambda head: redirect, work)) == 301


def test_what_is_not_http_is_a_protocol_error_in_words() -> None:
    async def work(base: str, connections: list[int]) -> None:
        pool = http1.Pool()
        try:
            await pool.request("GET", base, (), limit=100, redirects=True)
        finally:
            await pool.aclose()

    with pytest.raises(http1.ProtocolError, match="not an HTTP/1.1 status line: 'SSH-2.0-OpenSSH'"):
        asyncio.run(_serving(lambda head: b"SSH-2.0-OpenSSH\r\n\r\n", work))


def test_https_and_proxied_requests_are_not_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    assert http1.Pool().takes("http://example.com/") and not http1.Pool().takes("https://example.com/")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert not http1.Pool().takes("http://example.com/")
