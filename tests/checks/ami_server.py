"""An Asterisk Manager Interface server for the tests.

Asterisk is not packaged for this machine, so the AMI client is tested
against this server, which speaks the protocol as Asterisk's documentation
gives it: the banner line on connect, `Action:` blocks of `Key: value` lines
ending in a blank line (CRLF), each answered by a `Response:` block carrying
the action's `ActionID`; lists as a Success with `EventList: start`, one event
per item and a `...Complete` event; `Event:` blocks pushed unasked. As
Asterisk does, it refuses every action but Login before a successful Login
("Permission denied"), and closes the session after a failed one.

The answers are recorded sequences in fixtures/ami/*.txt: plain text, one
message per block, blocks split by a blank line, `#` lines left out, and
`${ActionID}` standing for the asking action's id.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from string import Template

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
BANNER = "Asterisk Call Manager/7.0.3\r\n"


def fixture(name: str, action_id: str = "") -> bytes:
    """A fixture's messages with CRLF line ends, each ending in a blank line."""
    lines = [line for line in (FIXTURES / name).read_text().splitlines() if not line.startswith("#")]
    blocks = "\n".join(lines).strip().split("\n\n")
    text = "".join("\r\n".join(block.splitlines()) + "\r\n\r\n" for block in blocks)
    return Template(text).substitute(ActionID=action_id).encode()


def response(action_id: str, status: str, **headers: str) -> bytes:
    lines = [f"Response: {status}", f"ActionID: {action_id}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class AmiServer:
    """`answers` maps an action (lower case; GetConfig as `getconfig:<file>`)
    to the fixture that answers it; tests change it to change what the PBX says."""

    def __init__(self, *, username: str = "watchkeeper", secret: str = "s3cret") -> None:
        self.username, self.secret = username, secret
        self.answers: dict[str, str] = {
            "pjsipshowregistrationsoutbound": "pjsip_registrations.txt",
            "sipshowregistry": "sip_registry.txt",
            "corestatus": "core_status.txt",
            "coreshowchannels": "core_show_channels.txt",
            "getconfig:pjsip.conf": "getconfig_pjsip.txt",
        }
        self.hang_up_on: str | None = None  # an action at which the connection drops unanswered
        self.silent_on: str | None = None  # an action left unanswered, the connection kept
        self.actions: list[dict[str, str]] = []
        self._sessions: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> AmiServer:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        for writer in list(self._sessions):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def push(self, name: str) -> None:
        """Send a fixture's events to every logged-in session, as Asterisk raises them."""
        for writer in list(self._sessions):
            writer.write(fixture(name))
            await writer.drain()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER.encode())
        logged_in = False
        try:
            while True:
                try:
                    block = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                action = _headers(block.decode())
                self.actions.append(action)
                try:
                    logged_in = await self._answer(action, logged_in, writer)
                except ConnectionError:  # Asterisk ends the session here (a Logoff, a failed Login)
                    return
        finally:
            self._sessions.discard(writer)
            writer.close()

    async def _answer(self, action: dict[str, str], logged_in: bool, writer: asyncio.StreamWriter) -> bool:
        """Answers one action; raises ConnectionError where Asterisk would end the session."""
        name, action_id = action.get("action", "").lower(), action.get("actionid", "")
        if name == self.hang_up_on:
            raise ConnectionError("dropped")
        if name == self.silent_on:
            return logged_in
        if name == "login":
            if action.get("username") != self.username or action.get("secret") != self.secret:
                writer.write(response(action_id, "Error", Message="Authentication failed"))
                await writer.drain()
                raise ConnectionError("authentication failed")
            writer.write(response(action_id, "Success", Message="Authentication accepted"))
            writer.write(fixture("fully_booted.txt"))
            self._sessions.add(writer)
            return True
        if not logged_in:
            writer.write(response(action_id, "Error", Message="Permission denied"))
        elif name == "ping":
            writer.write(response(action_id, "Success", Ping="Pong", Timestamp="1764154800.000000"))
        elif name == "logoff":
            writer.write(response(action_id, "Goodbye", Message="Thanks for all the fish."))
            raise ConnectionError("logged off")
        else:
            key = f"getconfig:{action.get('filename', '')}" if name == "getconfig" else name
            if key in self.answers:
                writer.write(fixture(self.answers[key], action_id))
            elif name == "getconfig":
                writer.write(response(action_id, "Error", Message="Config file not found"))
            else:
                writer.write(response(action_id, "Error", Message="Invalid/unknown command"))
        await writer.drain()
        return logged_in


def _headers(block: str) -> dict[str, str]:
    """An action's headers, names in lower case as Asterisk matches them."""
    found: dict[str, str] = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = value.strip()
    return found


class Serving:
    """An AmiServer on an event loop of its own thread, for code that runs its
    own loop (the scheduler's looks). `server.answers` may be changed between looks."""

    def __init__(self, server: AmiServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server, self._loop = server, loop
        self.up = True

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        """The PBX goes away: its manager port refuses connections."""
        if self.up:
            asyncio.run_coroutine_threadsafe(self.server.__aexit__(), self._loop).result(5)
            self.up = False


@contextmanager
def serving(**options: str) -> Iterator[Serving]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ami-server", daemon=True)
    thread.start()
    server = AmiServer(**options)
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(5)
    running = Serving(server, loop)
    try:
        yield running
    finally:
        running.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
