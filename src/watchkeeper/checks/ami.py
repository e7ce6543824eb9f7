"""A PBX's health over the Asterisk Manager Interface (AMI), through panoramisk.

`AmiWatch` logs in, asks what `pbx` turns into findings (trunk registrations,
start and reload times, configuration hashes, channels) and passes on the
events that arrive meanwhile (Registry, ContactStatus, PeerStatus,
FullyBooted, Reload). `look` is one whole round for a scheduler: it never
raises for a PBX that cannot be reached, it reports it as the link's finding.

panoramisk reconnects on its own and re-sends what was pending; a check must
instead see a lost link as a failure of this look, so the manager used here
neither reconnects nor leaves an answer waiting on a closed connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from panoramisk import Manager

from watchkeeper.checks import pbx as rules
from watchkeeper.clock import Clock
from watchkeeper.finding import Finding

LIVE_EVENTS = ("Registry", "ContactStatus", "PeerStatus", "FullyBooted", "Reload")


class AmiError(Exception):
    """The PBX could not be asked: refused, lost, or silent."""


class LoginFailed(AmiError):
    pass


@dataclass(frozen=True)
class AmiTarget:
    host: str
    port: int = 5038
    username: str = ""
    secret: str = ""
    timeout: float = 10.0
    config_files: Sequence[str] = ()
    zone: str = "UTC"  # the PBX's own zone, in which CoreStatus tells its times
    chan_sip: bool = False  # also ask chan_sip's SIPshowregistry

    def where(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Snapshot:
    """What one look saw; the next look compares against it."""

    trunks: list[rules.Trunk]
    uptime: rules.Uptime
    config_hashes: dict[str, str | None]
    channels: int
    calls: int
    names: dict[str, str] = field(default_factory=dict)  # client and server URI -> trunk, for Registry events

    def readings(self, pbx: rules.Pbx) -> list[rules.Reading]:
        return rules.channel_readings(pbx, channels=self.channels, calls=self.calls)


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager, minus the reconnecting: a lost link ends the look."""

    pinger: asyncio.TimerHandle | None

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.lost: asyncio.Future[None] = self.loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        if not self.lost.done():
            self.lost.set_result(None)


class AmiWatch:
    """One manager session with one PBX. Use `async with AmiWatch(...)`."""

    def __init__(self, target: AmiTarget, *, on_event: Callable[[Mapping[str, str]], None] | None = None) -> None:
        self.target = target
        self.on_event = on_event
        self._manager: _Manager | None = None

    async def __aenter__(self) -> AmiWatch:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        manager = _Manager(loop=loop, host=self.target.host, port=self.target.port, ping_delay=60)
        try:
            connected = await asyncio.wait_for(
                loop.create_connection(manager.config["protocol_factory"], self.target.host, self.target.port),
                self.target.timeout,
            )
        except (OSError, TimeoutError) as error:
            raise AmiError(f"cannot connect to {self.target.where()}: {error or 'timed out'}") from error
        # Connected here rather than by Manager.connect, which retries a refused
        # connection for ever; the manager then takes the connection as made.
        done: asyncio.Future[Any] = loop.create_future()
        done.set_result(connected)
        manager.connection_made(done)
        manager.register_event("*", self._dispatch)
        self._manager = manager
        try:
            answer = await self._ask(
                {"Action": "Login", "Username": self.target.username, "Secret": self.target.secret, "Events": "on"}
            )
        except AmiError:
            await self.close()
            raise
        if not answer.success:
            await self.close()
            raise LoginFailed(
                f"AMI login to {self.target.where()} as {self.target.username!r} refused ({answer.message}):"
                " check the user and secret in the PBX's manager.conf"
            )
        manager.authenticated = True

    async def close(self) -> None:
        """Log off (so the PBX logs a goodbye, not a dropped session) and close."""
        manager, self._manager = self._manager, None
        if manager is None:
            return
        if manager.authenticated and not manager.lost.done():
            manager.send_action({"Action": "Logoff"})
        manager.close()

    def _dispatch(self, _manager: Manager, event: Mapping[str, str]) -> None:
        if self.on_event is not None and event.get("Event") in LIVE_EVENTS:
            self.on_event(event)

    async def _ask(self, action: dict[str, str], *, listed: bool = False) -> Any:
        manager = self._manager
        if manager is None:
            raise AmiError(f"not connected to {self.target.where()}")
        name = action["Action"]
        if manager.lost.done():
            raise AmiError(f"connection to {self.target.where()} lost before {name}")
        answer = manager.send_action(action, as_list=listed or None)
        await asyncio.wait({answer, manager.lost}, timeout=self.target.timeout, return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        answer.cancel()
        if manager.lost.done():
            raise AmiError(f"connection to {self.target.where()} lost waiting for {name}")
        raise AmiError(f"no answer to {name} from {self.target.where()} within {self.target.timeout:g} s")

    async def _list(self, action: str) -> list[Mapping[str, str]]:
        """An action answered by a Success, events, and a ...Complete event."""
        answer = await self._ask({"Action": action})
        if not isinstance(answer, list):  # an Error, or a list with nothing in it
            return []
        return list(answer[1:])

    async def trunks(self) -> list[rules.Trunk]:
        found = rules.trunks_from_outbound_registrations(await self._list("PJSIPShowRegistrationsOutbound"))
        if self.target.chan_sip:
            found += rules.trunks_from_registry_entries(await self._list("SIPshowregistry"))
        return found

    async def core_status(self) -> Mapping[str, str]:
        answer = await self._ask({"Action": "CoreStatus"})
        if not answer.success:
            raise AmiError(f"CoreStatus refused by {self.target.where()}: {answer.message}")
        return dict(answer)

    async def config_hash(self, filename: str) -> str | None:
        """None when the PBX has no such file or will not show it."""
        answer = await self._ask({"Action": "GetConfig", "Filename": filename})
        return rules.config_hash(answer) if answer.success else None

    async def channels(self) -> int:
        return rules.channel_count(await self._list("CoreShowChannels"))

    async def snapshot(self) -> Snapshot:
        trunks = await self.trunks()
        status = await self.core_status()
        hashes = {name: await self.config_hash(name) for name in self.target.config_files}
        try:
            uptime = rules.uptime_from_core_status(status, zone=_zone(self.target.zone))
        except ValueError as error:
            raise AmiError(
                f"CoreStatus from {self.target.where()} gives no start time one can read: {error}"
            ) from error
        return Snapshot(
            trunks=trunks,
            uptime=uptime,
            config_hashes=hashes,
            channels=await self.channels(),
            calls=rules.calls_in_progress(status),
            names=rules.registry_names(trunks),
        )


def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def snapshot_findings(pbx: rules.Pbx, previous: Snapshot | None, current: Snapshot, *, now: datetime) -> list[Finding]:
    """All a look's findings: the link answers, each trunk, a restart or reload, each config file. Pure."""
    return [
        rules.link_finding(pbx, None, now=now),
        *rules.trunk_findings(pbx, current.trunks, now=now),
        rules.restart_finding(pbx, previous.uptime if previous else None, current.uptime, now=now),
        *rules.config_findings(pbx, previous.config_hashes if previous else {}, current.config_hashes, now=now),
    ]


def event_findings(
    pbx: rules.Pbx, event: Mapping[str, str], previous: Snapshot | None, *, now: datetime
) -> list[Finding]:
    """A live event's findings, as it arrives, read against the last snapshot
    (trunk names for Registry; the start time for FullyBooted, which Asterisk
    sends at every login and again after it boots). Pure."""
    kind = event.get("Event")
    if kind == "Registry":
        names = previous.names if previous else {}
        found = rules.trunk_finding(pbx, rules.trunk_from_registry_event(event, names), now=now)
    elif kind in ("ContactStatus", "PeerStatus"):
        trunk = rules.trunk_from_reachability(event)
        found = rules.trunk_finding(pbx, trunk, now=now) if trunk else None
    elif kind == "Reload":
        found = rules.reload_event_finding(pbx, event, now=now)
    elif kind == "FullyBooted" and previous is not None:
        booted = rules.uptime_from_fully_booted(event, now=now)
        found = rules.restart_finding(pbx, previous.uptime, booted, now=now)
    else:
        found = None
    return [found] if found is not None else []


async def look(
    pbx: rules.Pbx, target: AmiTarget, previous: Snapshot | None, *, clock: Clock
) -> tuple[Snapshot | None, list[Finding]]:
    """One round: log in, take a snapshot, compare it with `previous`. A PBX
    that cannot be asked gives the link's firing finding and no snapshot; a
    wrong secret is such a failure too, with the message that says so."""
    try:
        async with AmiWatch(target) as watch:
            current = await watch.snapshot()
    except AmiError as error:
        return None, [rules.link_finding(pbx, str(error), now=clock.now())]
    return current, snapshot_findings(pbx, previous, current, now=clock.now())
