"""`watchkeeper checks ...` and `watchkeeper run --check NAME -- CMD...`: heartbeats from the command line."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from watchkeeper import models  # noqa: F401  (every table, for the alerts a ping records)
from watchkeeper.checks import service
from watchkeeper.checks.models import PingKind, ScheduleKind
from watchkeeper.checks.schedule import Schedule
from watchkeeper.cli.common import Column, act, console, context, fail, parse_duration, print_json, show_list, when
from watchkeeper.errors import said
from watchkeeper.finding import Finding

checks_app = typer.Typer(help="Heartbeat checks: cron and backup jobs ping them (Healthchecks' ping API).")
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]
TAIL = 10 * 1024  # of a command's output, sent with its result


def _record(findings: list[Finding], session: Session, now: datetime) -> None:
    from watchkeeper.alerts.service import RoutingConfig, record_all

    record_all(findings, session=session, now=now, config=RoutingConfig.from_settings(context().settings))


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not a label like team=billing")
        labels[name] = value
    return labels


@checks_app.command("add")
def add(
    name: str,
    period: Annotated[str, typer.Option(help="how often it pings: 5m, 1h, 1d")] = "1d",
    grace: Annotated[str, typer.Option(help="how late a ping may be")] = "1h",
    cron: Annotated[str | None, typer.Option(help="a cron expression instead of --period: '30 2 * * *'")] = None,
    oncalendar: Annotated[str | None, typer.Option(help="a systemd OnCalendar expression: 'Mon..Fri 02:30'")] = None,
    tz: Annotated[str, typer.Option("--timezone", "--tz", help="IANA time zone of --cron or --oncalendar")] = "UTC",
    service_name: Annotated[str | None, typer.Option("--service", help="the service or host it watches")] = None,
    customer: Annotated[str | None, typer.Option(help="whose it is")] = None,
    label: Annotated[list[str] | None, typer.Option(help="a label, repeatable: team=billing")] = None,
    success_keyword: Annotated[list[str] | None, typer.Option(help="a body holding it is a success")] = None,
    failure_keyword: Annotated[list[str] | None, typer.Option(help="a body holding it is a failure")] = None,
    slug: Annotated[str | None, typer.Option(help="for /ping/<ping key>/<slug>; the name by default")] = None,
    ping_key: Annotated[str | None, typer.Option(help="the key of slug URLs; 'new' makes one")] = None,
    as_json: Json = False,
) -> None:
    """Add a heartbeat check; prints its ping URL path."""
    if cron and oncalendar:
        raise fail("give --cron or --oncalendar, not both")
    kind = ScheduleKind.CRON if cron else ScheduleKind.ONCALENDAR if oncalendar else ScheduleKind.PERIOD
    schedule = Schedule(kind, parse_duration(period), parse_duration(grace), cron or oncalendar, tz)
    ctx = context()
    try:
        with ctx.transaction() as session:
            from watchkeeper.auth.customers import get_customer

            customer_id = get_customer(customer, session=session).id if customer else None
            check = service.add(
                name,
                session=session,
                now=ctx.clock.now(),
                schedule=schedule,
                slug=slug,
                ping_key=service.new_ping_key() if ping_key == "new" else ping_key,
                service=service_name,
                customer_id=customer_id,
                labels=_labels(label or []),
                success_keywords=success_keyword or [],
                failure_keywords=failure_keyword or [],
            )
            shown = service.check_view(check)
    except (ValueError, LookupError) as exc:
        raise fail(said(exc)) from exc
    if as_json:
        print_json(shown)
        return
    console.print(f"added check {shown['name']}: ping /ping/{shown['uuid']}")
    if shown["ping_key"]:
        console.print(f"or /ping/{shown['ping_key']}/{shown['slug']}")


@checks_app.command("list")
def list_checks(as_json: Json = False) -> None:
    """Every check, its status and deadline."""
    with context().transaction() as session:
        rows = [service.check_view(c) for c in service.list_checks(session=session)]
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("name"),
        Column("status"),
        Column("due (UTC)", 2),
        Column("last ping (UTC)", 1),
        Column("schedule", wide=True),
    ]
    lines = [[r["name"], str(r["status"]), when(r["due_at"]), when(r["last_ping_at"]), _schedule(r)] for r in rows]
    show_list(columns, lines, empty="no checks yet: `watchkeeper checks add NAME --period 1d`")


def _schedule(row: dict[str, Any]) -> str:
    if row["schedule"] == ScheduleKind.PERIOD:
        return f"every {row['period_seconds']} s, grace {row['grace_seconds']} s"
    return f"{row['expression']} ({row['tz']}), grace {row['grace_seconds']} s"


@checks_app.command("show")
def show(
    name: str, pings: Annotated[int, typer.Option(help="how many of the last pings")] = 10, as_json: Json = False
) -> None:
    """A check with its last pings, their bodies and run times."""
    try:
        with context().transaction() as session:
            check = service.get(name, session=session)
            shown = service.check_view(check)
            shown["pings"] = [service.ping_view(p) for p in service.last_pings(check, session=session, limit=pings)]
    except LookupError as exc:
        raise fail(said(exc)) from exc
    if as_json:
        print_json(shown)
        return
    console.print(f"[bold]{shown['name']}[/bold] {shown['status']}  uuid {shown['uuid']}  {_schedule(shown)}")
    console.print(f"last ping {when(shown['last_ping_at'])}, due {when(shown['due_at'])}")
    for ping in shown["pings"]:
        took = f" ran {ping['duration_seconds']:.1f} s" if ping["duration_seconds"] is not None else ""
        status = f" exit {ping['exit_status']}" if ping["exit_status"] is not None else ""
        console.print(f"{when(ping['at'])}  {ping['kind']}{status}{took}  {ping['source']} {ping['user_agent']}")
        if ping["body"]:
            console.print(ping["body"], markup=False, highlight=False)


def _change(name: str, what: str) -> None:
    def action(session: Session, now: datetime) -> None:
        check = service.get(name, session=session)
        if what == "pause":
            _record(service.pause(check, session=session, now=now), session, now)
        elif what == "resume":
            service.resume(check, session=session, now=now)
        else:
            _record(service.remove(check, session=session, now=now), session, now)

    done = {"pause": "paused", "resume": "resumed", "remove": "removed"}[what]
    act(action, f"{done} check {name}")


@checks_app.command("pause")
def pause(name: str) -> None:
    """Stop watching until the next ping; what fires resolves."""
    _change(name, "pause")


@checks_app.command("resume")
def resume(name: str) -> None:
    """Watch again from the next ping."""
    _change(name, "resume")


@checks_app.command("remove")
def remove(name: str) -> None:
    """Remove a check and its pings."""
    _change(name, "remove")


def run_command(
    command: Annotated[list[str], typer.Argument(help="the command, after --")],
    check: Annotated[str | None, typer.Option("--check", help="the check's name or uuid, in this database")] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="or the ping URL of a watchkeeper (or Healthchecks) elsewhere")
    ] = None,
) -> None:
    """Run a command as a check's job: ping start, run it, ping its exit status with the tail of its output."""
    if (check is None) == (url is None):
        raise fail("give --check NAME (this database) or --url PING-URL (a server elsewhere)")
    rid = str(uuid.uuid4())
    ping = _pinger(check, url)
    ping(PingKind.START, rid, b"", None)
    started = time.monotonic()
    tail: deque[bytes] = deque()
    size = 0
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        ping(PingKind.FAIL, rid, f"cannot run {command[0]}: {exc}".encode(), None)
        raise fail(f"cannot run {command[0]}: {exc}", 127) from exc
    assert process.stdout is not None
    for line in process.stdout:
        typer.echo(line, nl=False)
        tail.append(line)
        size += len(line)
        while size > TAIL and len(tail) > 1:
            size -= len(tail.popleft())
    status = process.wait()
    body = b"".join(tail)[-TAIL:]
    ping(PingKind.SUCCESS, rid, body, status if 0 <= status <= 255 else 255)  # killed by a signal: a failure
    console.print(
        f"[dim]{check or url}: exit status {status} after {time.monotonic() - started:.1f} s[/dim]", highlight=False
    )
    raise typer.Exit(status if 0 <= status <= 255 else 1)


Pinger = Callable[[PingKind, str, bytes, int | None], None]


def _pinger(check: str | None, url: str | None) -> Pinger:
    if check is not None:
        return lambda kind, rid, body, status: _ping(check, kind, rid=rid, body=body, exit_status=status)
    assert url is not None
    base = url.rstrip("/")

    def remote(kind: PingKind, rid: str, body: bytes, status: int | None) -> None:
        import httpx

        action = "/start" if kind is PingKind.START else f"/{status}" if status is not None else "/fail"
        for attempt in range(5):
            try:
                httpx.post(f"{base}{action}", params={"rid": rid}, content=body, timeout=10).raise_for_status()
                return
            except httpx.HTTPError as exc:
                if attempt == 4:  # the job's own outcome matters more than its ping: say so, go on
                    console.print(f"[yellow]warning:[/yellow] could not ping {base}{action}: {exc}")
                else:
                    time.sleep(1 + attempt)

    return remote


def _ping(name: str, kind: PingKind, *, rid: str, body: bytes = b"", exit_status: int | None = None) -> None:
    def action(session: Session, now: datetime) -> None:
        check = service.get(name, session=session)
        pinged = service.ping(
            check,
            kind,
            session=session,
            now=now,
            body=body,
            exit_status=exit_status,
            rid=rid,
            user_agent="watchkeeper run",
            source="localhost",
        )
        _record(pinged.findings, session, now)

    ctx = context()
    try:
        with ctx.transaction() as session:
            action(session, ctx.clock.now())
    except (ValueError, LookupError) as exc:
        raise fail(said(exc)) from exc
