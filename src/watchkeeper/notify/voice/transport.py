"""How SIP messages travel to the trunk and back: one UDP socket, or one TCP connection.

Everything goes to the trunk, which is the operator's registrar and outbound proxy; what
comes back is read into a queue of parsed messages, and unreadable bytes are dropped
(RFC 3261 18.1.2, 18.2.1), never raised."""

from __future__ import annotations

import asyncio
import socket
from contextlib import suppress

from watchkeeper.checks.sip import Request, Response, SipError, StreamReader, Transport, parse_message

Message = Request | Response


async def resolve(host: str, port: int, kind: Transport) -> tuple[str, int]:
    loop = asyncio.get_running_loop()
    sock_type = socket.SOCK_DGRAM if kind is Transport.UDP else socket.SOCK_STREAM
    infos = await loop.getaddrinfo(host, port, type=sock_type)
    if not infos:
        raise OSError(f"{host} has no address")
    address = infos[0][4]
    return str(address[0]), int(address[1])


def local_address_towards(host: str, port: int) -> str:
    """The address of this machine the route to `host` leaves from: what the Via, Contact
    and SDP must name for the far end to reach back (no packet is sent to learn it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        return str(probe.getsockname()[0])


class Channel:
    """One signalling path to the trunk."""

    kind: Transport
    local: tuple[str, int]

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.lost = asyncio.Event()  # set when a connection the trunk closed can carry nothing more

    def deliver(self, data: bytes) -> None:
        with suppress(SipError):
            self.incoming.put_nowait(parse_message(data))

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if data.strip(b"\r\n"):  # a bare CRLF is a keep-alive (RFC 5626 4.4.1)
            self.channel.deliver(data)

    def error_received(self, exc: Exception) -> None:
        # An unconnected socket (in-dialog requests may come from elsewhere than the trunk)
        # hears of few ICMP errors; the retransmissions and timeouts say what they mean.
        pass


class UdpChannel(Channel):
    kind = Transport.UDP

    def __init__(self, remote: tuple[str, int]) -> None:
        super().__init__()
        self.remote = remote
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        here = local_address_towards(*self.remote)
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=(here, 0))
        name = self._transport.get_extra_info("sockname")
        self.local = (str(name[0]), int(name[1]))

    def send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(data, self.remote)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class TcpChannel(Channel):
    kind = Transport.TCP

    def __init__(self, remote: tuple[str, int]) -> None:
        super().__init__()
        self.remote = remote
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None

    async def open(self) -> None:
        reader, self._writer = await asyncio.open_connection(*self.remote)
        name = self._writer.get_extra_info("sockname")
        self.local = (str(name[0]), int(name[1]))
        self._reading = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        frames = StreamReader()
        try:
            while chunk := await reader.read(65_536):
                for message in frames.feed(chunk):
                    self.deliver(message)
        except (OSError, SipError):
            pass  # a stream that cannot be framed any more is as good as closed
        finally:
            self.lost.set()

    def send(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            with suppress(asyncio.CancelledError):
                await self._reading
        if self._writer is not None:
            self._writer.close()
            with suppress(OSError):
                await self._writer.wait_closed()


async def open_channel(host: str, port: int, kind: Transport) -> Channel:
    remote = await resolve(host, port, kind)
    channel: UdpChannel | TcpChannel = UdpChannel(remote) if kind is Transport.UDP else TcpChannel(remote)
    await channel.open()
    return channel
