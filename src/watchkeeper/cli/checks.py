"""`watchkeeper checks ...` and `watchkeeper run --check NAME -- CMD...`: heartbeats and probes."""

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
from watchkeeper.checks import pbxes, service
from watchkeeper.checks.models import CheckKind, PingKind, ScheduleKind
from watchkeeper.checks.schedule import Schedule
from watchkeeper.cli.common import Column, act, console, context, fail, parse_duration, print_json, show_list, when
from watchkeeper.errors import said
from watchkeeper.finding import Finding

checks_app = typer.Typer(
    help="Health checks: heartbeats that cron and backup jobs ping (Healthchecks' ping API), "
    "and HTTP, TCP, TLS, DNS and SIP OPTIONS probes the scheduler runs."
)
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
    http: Annotated[str | None, typer.Option(help="probe this URL", rich_help_panel="Probes")] = None,
    tcp: Annotated[str | None, typer.Option(help="connect to HOST:PORT", rich_help_panel="Probes")] = None,
    tls: Annotated[str | None, typer.Option(help="check HOST[:PORT]'s certificate", rich_help_panel="Probes")] = None,
    dns: Annotated[str | None, typer.Option(help="resolve this name", rich_help_panel="Probes")] = None,
    sip: Annotated[str | None, typer.Option(help="SIP OPTIONS to HOST[:PORT]", rich_help_panel="Probes")] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            help="--http: the statuses that are up (200-299); --dns: an answer, repeatable", rich_help_panel="Probes"
        ),
    ] = None,
    keyword: Annotated[str | None, typer.Option(help="--http: the body must hold it", rich_help_panel="Probes")] = None,
    record_type: Annotated[str, typer.Option(help="--dns: A, AAAA, MX, TXT...", rich_help_panel="Probes")] = "A",
    nameserver: Annotated[str | None, typer.Option(help="--dns: ask this server", rich_help_panel="Probes")] = None,
    warn_days: Annotated[int, typer.Option(help="--tls: a warning this near expiry", rich_help_panel="Probes")] = 21,
    critical_days: Annotated[int, typer.Option(help="--tls: critical this near", rich_help_panel="Probes")] = 7,
    transport: Annotated[str, typer.Option(help="--sip: udp or tcp", rich_help_panel="Probes")] = "udp",
    user: Annotated[str | None, typer.Option(help="--sip: OPTIONS to sip:USER@host", rich_help_panel="Probes")] = None,
    interval: Annotated[
        str, typer.Option(help="how often a probe runs: 30s, 1m, 5m", rich_help_panel="Probes")
    ] = "60s",
    timeout: Annotated[float | None, typer.Option(help="seconds a probe waits", rich_help_panel="Probes")] = None,
    fail_after: Annotated[int, typer.Option(help="failures in a row that make it down", rich_help_panel="Probes")] = 2,
    recover_after: Annotated[
        int, typer.Option(help="successes in a row that make it up", rich_help_panel="Probes")
    ] = 1,
    as_json: Json = False,
) -> None:
    """Add a heartbeat check (prints its ping URL path), or a probe: --http, --tcp, --tls, --dns or --sip."""
    targets = {"http": http, "tcp": tcp, "tls": tls, "dns": dns, "sip": sip}
    given = [kind for kind, target in targets.items() if target is not None]
    if len(given) > 1:
        raise fail(f"a check probes one thing: give one of --{', --'.join(given)}")
    if cron and oncalendar:
        raise fail("give --cron or --oncalendar, not both")
    if given and (cron or oncalendar or slug or ping_key or success_keyword or failure_keyword):
        raise fail("--cron, --oncalendar, --slug, --ping-key and the keywords are for heartbeats, not probes")
    ctx = context()
    try:
        with ctx.transaction() as session:
            from watchkeeper.auth.customers import get_customer

            customer_id = get_customer(customer, session=session).id if customer else None
            if given:
                kind = given[0]
                options = _probe_options(
                    kind,
                    targets[kind] or "",
                    expect=expect or [],
                    keyword=keyword,
                    record_type=record_type,
                    nameserver=nameserver,
                    warn_days=warn_days,
                    critical_days=critical_days,
                    transport=transport,
                    user=user,
                    timeout=timeout,
                )
                check = service.add_probe(
                    name,
                    kind,
                    options,
                    session=session,
                    now=ctx.clock.now(),
                    interval=parse_duration(interval),
                    fail_after=fail_after,
                    recover_after=recover_after,
                    service=service_name,
                    customer_id=customer_id,
                    labels=_labels(label or []),
                )
            else:
                if expect or keyword:
                    raise fail("--expect and --keyword are for a probe: give --http URL (or --dns NAME for --expect)")
                kind_of = ScheduleKind.CRON if cron else ScheduleKind.ONCALENDAR if oncalendar else ScheduleKind.PERIOD
                schedule = Schedule(kind_of, parse_duration(period), parse_duration(grace), cron or oncalendar, tz)
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
    if given:
        console.print(
            f"added {shown['kind']} check {shown['name']}: {_target(shown)} every {shown['period_seconds']} s"
        )
        console.print(f"first run {when(shown['due_at'])}")
        return
    console.print(f"added check {shown['name']}: ping /ping/{shown['uuid']}")
    if shown["ping_key"]:
        console.print(f"or /ping/{shown['ping_key']}/{shown['slug']}")


def _host_port(text: str, default: int | None, what: str) -> tuple[str, int]:
    """HOST, HOST:PORT or [IPv6]:PORT."""
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port:
        if default is None:
            raise typer.BadParameter(f"{text!r}: give {what} as HOST:PORT")
        return host, default
    if not port.isdigit():
        raise typer.BadParameter(f"{text!r}: the port {port!r} is not a number")
    return host, int(port)


def _probe_options(
    kind: str,
    target: str,
    *,
    expect: list[str],
    keyword: str | None,
    record_type: str,
    nameserver: str | None,
    warn_days: int,
    critical_days: int,
    transport: str,
    user: str | None,
    timeout: float | None,
) -> dict[str, Any]:
    """A probe's options (Check.settings) from the command line's."""
    if keyword is not None and kind != "http":
        raise typer.BadParameter("--keyword is for --http")
    if expect and kind not in ("http", "dns"):
        raise typer.BadParameter("--expect is for --http (statuses) and --dns (answers)")
    options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    if kind == "http":
        if len(expect) > 1:
            raise typer.BadParameter("--http takes one --expect, e.g. --expect 200-299 or --expect 200,204")
        options |= {"url": target, "keyword": keyword, **({"expected_status": expect[0]} if expect else {})}
    elif kind in ("tcp", "tls"):
        host, port = _host_port(target, None if kind == "tcp" else 443, f"--{kind}")
        options |= {"host": host, "port": port}
        if kind == "tls":
            options |= {"warn_days": warn_days, "critical_days": critical_days}
    elif kind == "dns":
        options |= {"name": target, "record_type": record_type, "expected": expect}
        if nameserver is not None:
            server, port = _host_port(nameserver, 53, "--nameserver")
            options |= {"nameserver": server, "port": port}
    else:
        host, port = _host_port(target, 5060, "--sip")
        options |= {"host": host, "port": port, "transport": transport, "user": user}
        options.setdefault("timeout", 5.0)
    return options


def _target(row: dict[str, Any]) -> str:
    settings = row["settings"]
    if row["kind"] == CheckKind.HTTP:
        return str(settings["url"])
    if row["kind"] == CheckKind.DNS:
        return f"{settings['name']} {settings['record_type']}"
    if row["kind"] == CheckKind.SIP:
        host = f"[{settings['host']}]" if ":" in settings["host"] else settings["host"]
        return f"sip:{host}:{settings['port']} over {settings['transport']}"
    return f"{settings['host']}:{settings['port']}"


def _ms(latency: float | None) -> str:
    return "-" if latency is None else f"{latency * 1000:.0f} ms"


def _last(row: dict[str, Any]) -> str:
    """A check's last result: a probe's up or down with its latency, a heartbeat's last ping."""
    if row["kind"] == CheckKind.HEARTBEAT:
        return when(row["last_ping_at"])
    if row["last_up"] is None:
        return "-"
    if row["last_up"]:
        return f"up {_ms(row['last_latency'])}"
    return f"down: {row['last_error'] or ''}".strip()


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
        Column("kind", 1),
        Column("status"),
        Column("due (UTC)", 2),
        Column("last ping / result", 3),
        Column("schedule", wide=True),
    ]
    lines = [[r["name"], str(r["kind"]), str(r["status"]), when(r["due_at"]), _last(r), _schedule(r)] for r in rows]
    show_list(columns, lines, empty="no checks yet: `watchkeeper checks add NAME --period 1d`")


def _schedule(row: dict[str, Any]) -> str:
    if row["kind"] != CheckKind.HEARTBEAT and row["kind"] != CheckKind.AMI:
        return f"{_target(row)} every {row['period_seconds']} s"
    if row["schedule"] == ScheduleKind.PERIOD:
        return f"every {row['period_seconds']} s, grace {row['grace_seconds']} s"
    return f"{row['expression']} ({row['tz']}), grace {row['grace_seconds']} s"


@checks_app.command("show")
def show(
    name: str,
    pings: Annotated[int, typer.Option("--pings", "--results", help="how many of the last pings or results")] = 10,
    as_json: Json = False,
) -> None:
    """A check with its last pings (their bodies and run times), or a probe with its last results and latencies."""
    try:
        with context().transaction() as session:
            check = service.get(name, session=session)
            shown = service.check_view(check)
            shown["pings"] = [service.ping_view(p) for p in service.last_pings(check, session=session, limit=pings)]
            results = service.last_results(check, session=session, limit=pings)
            shown["results"] = [service.result_view(r) for r in results]
    except LookupError as exc:
        raise fail(said(exc)) from exc
    if as_json:
        print_json(shown)
        return
    if shown["kind"] in service.PROBES:
        _show_probe(shown)
        return
    console.print(f"[bold]{shown['name']}[/bold] {shown['status']}  uuid {shown['uuid']}  {_schedule(shown)}")
    console.print(f"last ping {when(shown['last_ping_at'])}, due {when(shown['due_at'])}")
    for ping in shown["pings"]:
        took = f" ran {ping['duration_seconds']:.1f} s" if ping["duration_seconds"] is not None else ""
        status = f" exit {ping['exit_status']}" if ping["exit_status"] is not None else ""
        console.print(f"{when(ping['at'])}  {ping['kind']}{status}{took}  {ping['source']} {ping['user_agent']}")
        if ping["body"]:
            console.print(ping["body"], markup=False, highlight=False)


def _times(count: int, what: str) -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}{'es' if what.endswith('s') else 's'} in a row"


def _show_probe(shown: dict[str, Any]) -> None:
    console.print(f"[bold]{shown['name']}[/bold] {shown['status']}  {shown['kind']} {_target(shown)}", highlight=False)
    damping = (
        f"down after {_times(shown['fail_after'], 'failure')}, up after {_times(shown['recover_after'], 'success')}"
    )
    console.print(f"every {shown['period_seconds']} s, {damping}; next run {when(shown['due_at'])}")
    if not shown["results"]:
        console.print("no results yet")
    for result in shown["results"]:
        status = f"  {result['status']}" if result["status"] is not None else ""
        said_as = "up" if result["up"] else "down"
        reason = f"  {result['reason']}" if result["reason"] else ""
        console.print(
            f"{when(result['at'])}  {said_as:4} {_ms(result['latency']):>8}{status}{reason}",
            markup=False,
            highlight=False,
        )


def _change(name: str, what: str) -> None:
    def action(session: Session, now: datetime) -> None:
        check = service.get(name, session=session)
        if what == "pause":
            _record(pbxes.pause(check, session=session, now=now), session, now)
        elif what == "resume":
            pbxes.resume(check, session=session, now=now)
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
