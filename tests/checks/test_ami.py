"""The AMI client against the protocol-faithful server of ami_server.py
(Asterisk itself is not packaged here)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from tests.checks.ami_server import AmiServer
from watchkeeper.checks import ami
from watchkeeper.checks.pbx import Pbx
from watchkeeper.clock import FrozenClock
from watchkeeper.finding import Finding, State, Urgency

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PBX = Pbx("pbx-fra1", service="voice", labels={"customer": "acme"})
T = TypeVar("T")


def run(test: Callable[[AmiServer], Awaitable[T]]) -> T:
    async def main() -> T:
        async with AmiServer() as server:
            return await test(server)

    return asyncio.run(main())


def target(server: AmiServer, **more: object) -> ami.AmiTarget:
    settings: dict[str, object] = {"username": "watchkeeper", "secret": "s3cret", "timeout": 2.0}
    settings.update(more)
    return ami.AmiTarget("127.0.0.1", server.port, **settings)  # type: ignore[arg-type]


def by_key(findings: list[Finding]) -> dict[str, Finding]:
    return {f.dedup_key: f for f in findings}


async def look(
    server: AmiServer, previous: ami.Snapshot | None = None, **more: object
) -> tuple[ami.Snapshot | None, list[Finding]]:
    return await ami.look(PBX, target(server, **more), previous, clock=FrozenClock(NOW))


def test_login_with_the_right_secret_reads_the_trunks() -> None:
    async def test(server: AmiServer) -> list[str]:
        async with ami.AmiWatch(target(server)) as watch:
            return [t.name for t in await watch.trunks()]

    assert run(test) == ["carrier-a", "carrier-b"]


def test_login_with_a_wrong_secret_says_to_check_the_secret() -> None:
    async def test(server: AmiServer) -> str:
        with pytest.raises(ami.LoginFailed) as refused:
            await ami.AmiWatch(target(server, secret="wrong")).connect()
        return str(refused.value)

    message = run(test)
    assert "Authentication failed" in message and "secret" in message and "'watchkeeper'" in message


def test_a_wrong_secret_in_a_look_is_the_link_finding_not_a_crash() -> None:
    _, findings = run(lambda server: look(server, secret="wrong"))
    [down] = findings
    assert (down.dedup_key, down.state) == ("ami:pbx-fra1:ami", State.FIRING)
    assert "Authentication failed" in down.summary


def test_the_server_refuses_actions_before_login() -> None:
    """The server is faithful in this: a client that skipped Login would be told so."""

    async def test(server: AmiServer) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        banner = await reader.readline()
        writer.write(b"Action: CoreStatus\r\nActionID: 7\r\n\r\n")
        answer = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return banner + answer

    assert (
        run(test)
        == b"Asterisk Call Manager/7.0.3\r\nResponse: Error\r\nActionID: 7\r\nMessage: Permission denied\r\n\r\n"
    )


def test_a_rejected_trunk_fires_and_a_registered_one_resolves() -> None:
    _, findings = run(look)
    found = by_key(findings)
    rejected, registered = found["ami:pbx-fra1:trunk:carrier-b"], found["ami:pbx-fra1:trunk:carrier-a"]
    assert rejected.state is State.FIRING and "Rejected" in rejected.summary
    assert registered.state is State.RESOLVED
    assert rejected.labels == {
        "customer": "acme",
        "pbx": "pbx-fra1",
        "parent": "pbx-fra1",
        "kind": "trunk",
        "trunk": "carrier-b",
    }
    assert found["ami:pbx-fra1:ami"].state is State.RESOLVED


def test_chan_sip_registrations_are_asked_when_named() -> None:
    snapshot, findings = run(lambda server: look(server, chan_sip=True))
    assert snapshot is not None
    assert by_key(findings)["ami:pbx-fra1:trunk:3003@sip.carrier-c.example"].state is State.FIRING


def test_a_registry_event_flips_the_rejected_trunk_to_registered() -> None:
    async def test(server: AmiServer) -> list[Finding]:
        events: list[Mapping[str, str]] = []
        arrived = asyncio.Event()

        def heard(event: Mapping[str, str]) -> None:
            events.append(event)
            if event.get("Event") == "Registry":
                arrived.set()

        async with ami.AmiWatch(target(server), on_event=heard) as watch:
            snapshot = await watch.snapshot()
            await server.push("registry_event.txt")
            await asyncio.wait_for(arrived.wait(), 2)
        return [f for e in events for f in ami.event_findings(PBX, e, snapshot, now=NOW)]

    [flipped] = [f for f in run(test) if f.labels["kind"] == "trunk"]
    assert (flipped.dedup_key, flipped.state) == ("ami:pbx-fra1:trunk:carrier-b", State.RESOLVED)


def test_a_restart_announced_by_fully_booted_and_reload_is_noted_at_low_urgency() -> None:
    async def test(server: AmiServer) -> list[Finding]:
        events: list[Mapping[str, str]] = []
        arrived = asyncio.Event()

        def heard(event: Mapping[str, str]) -> None:
            events.append(event)
            if event.get("Event") == "Reload":
                arrived.set()

        async with ami.AmiWatch(target(server), on_event=heard) as watch:
            snapshot = await watch.snapshot()
            events.clear()  # the FullyBooted every login brings
            await server.push("restart_and_reload.txt")
            await asyncio.wait_for(arrived.wait(), 2)
        return [f for e in events for f in ami.event_findings(PBX, e, snapshot, now=NOW)]

    restarted, reloaded = run(test)
    assert restarted.state is State.FIRING and "restarted" in restarted.summary
    assert reloaded.state is State.FIRING and "reloaded res_pjsip.so" in reloaded.summary
    assert {f.urgency for f in (restarted, reloaded)} == {Urgency.LOW}
    assert {f.labels["kind"] for f in (restarted, reloaded)} == {"reload"}


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("core_status.txt", None), ("core_status_reloaded.txt", "reloaded"), ("core_status_restarted.txt", "restarted")],
)
def test_core_status_between_two_looks_tells_a_reload_or_restart(fixture: str, expected: str | None) -> None:
    async def test(server: AmiServer) -> Finding:
        first, _ = await look(server)
        server.answers["corestatus"] = fixture
        _, findings = await look(server, first)
        return by_key(findings)["ami:pbx-fra1:reload"]

    finding = run(test)
    if expected is None:
        assert finding.state is State.RESOLVED
    else:
        assert finding.state is State.FIRING and expected in finding.summary


def test_a_changed_config_file_changes_its_hash_and_fires() -> None:
    async def test(server: AmiServer) -> tuple[ami.Snapshot, ami.Snapshot, Finding, Finding]:
        first, _ = await look(server, config_files=("pjsip.conf",))
        assert first is not None
        again, same = await look(server, first, config_files=("pjsip.conf",))
        server.answers["getconfig:pjsip.conf"] = "getconfig_pjsip_changed.txt"
        changed, findings = await look(server, again, config_files=("pjsip.conf",))
        assert again is not None and changed is not None
        key = "ami:pbx-fra1:config:pjsip.conf"
        return first, changed, by_key(same)[key], by_key(findings)[key]

    first, changed, same, fired = run(test)
    assert first.config_hashes["pjsip.conf"] != changed.config_hashes["pjsip.conf"]
    assert same.state is State.RESOLVED
    assert fired.state is State.FIRING and fired.urgency is Urgency.LOW
    assert fired.labels["kind"] == "config" and fired.labels["file"] == "pjsip.conf"


def test_a_config_file_the_pbx_does_not_have_fires_as_unreadable() -> None:
    _, findings = run(lambda server: look(server, config_files=("nosuch.conf",)))
    unreadable = by_key(findings)["ami:pbx-fra1:config:nosuch.conf"]
    assert unreadable.state is State.FIRING and "could not be read" in unreadable.summary


def test_channels_and_calls_are_counted() -> None:
    snapshot, _ = run(look)
    assert snapshot is not None
    assert (snapshot.channels, snapshot.calls) == (2, 1)


def test_a_connection_lost_mid_look_is_a_down_finding_for_the_pbx() -> None:
    async def test(server: AmiServer) -> tuple[ami.Snapshot | None, list[Finding]]:
        server.hang_up_on = "coreshowchannels"
        return await look(server)

    snapshot, findings = run(test)
    [down] = findings
    assert snapshot is None
    assert (down.dedup_key, down.state) == ("ami:pbx-fra1:ami", State.FIRING)
    assert "lost" in down.summary and down.labels["pbx"] == "pbx-fra1"


def test_a_pbx_that_refuses_the_connection_is_down() -> None:
    async def test(server: AmiServer) -> list[Finding]:
        port = server.port
        await server.__aexit__()
        _, findings = await ami.look(PBX, ami.AmiTarget("127.0.0.1", port, timeout=1.0), None, clock=FrozenClock(NOW))
        return findings

    [down] = run(test)
    assert down.state is State.FIRING and "cannot connect" in down.summary


def test_a_look_reads_the_channels_gauge() -> None:
    snapshot, _ = run(look)
    assert snapshot is not None
    assert [(r.name, r.value, r.labels["pbx"]) for r in snapshot.readings(PBX)] == [
        ("pbx_channels_active", 2, "pbx-fra1"),
        ("pbx_calls_active", 1, "pbx-fra1"),
    ]


def test_a_pbx_that_stops_answering_is_down_after_the_timeout() -> None:
    async def test(server: AmiServer) -> list[Finding]:
        server.silent_on = "corestatus"
        _, findings = await look(server, timeout=0.3)
        return findings

    [down] = run(test)
    assert down.state is State.FIRING and "no answer to CoreStatus" in down.summary and "0.3 s" in down.summary


def test_a_core_status_without_a_readable_start_is_down_not_a_crash() -> None:
    async def test(server: AmiServer) -> list[Finding]:
        server.answers["corestatus"] = "core_status_garbled.txt"
        _, findings = await look(server)
        return findings

    [down] = run(test)
    assert down.state is State.FIRING and "no start time" in down.summary


def test_a_look_logs_in_first_and_off_last() -> None:
    async def test(server: AmiServer) -> list[str]:
        await look(server)
        for _ in range(200):  # the Logoff is written as the connection closes: the server reads it a moment later
            if server.actions and server.actions[-1]["action"] == "Logoff":
                break
            await asyncio.sleep(0.01)
        return [action["action"] for action in server.actions]

    actions = run(test)
    assert (actions[0], actions[-1]) == ("Login", "Logoff")
    assert "Logoff" not in actions[1:-1]
