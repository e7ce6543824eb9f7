"""CLI for usage feeds: services, feed settings, files and findings (ingest: cli.ingest)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from watchkeeper.alerts.service import list_alerts
from watchkeeper.cli.alerts import alert_out
from watchkeeper.cli.common import (
    Column,
    console,
    fail,
    fields,
    minute,
    print_json,
    reading,
    show_list,
    storing,
    when,
)
from watchkeeper.feeds import service as services
from watchkeeper.feeds.models import ServiceStage
from watchkeeper.feeds.parse import Format
from watchkeeper.feeds.rhythm import Sensitivity, duration
from watchkeeper.feeds.schemas import ServicePatch, ServiceSettings, parse_minutes
from watchkeeper.finding import State
from watchkeeper.words import count

SPARK = "·▁▂▃▄▅▆▇█"

services_app = typer.Typer(help="Services discovered from usage (or added before it): list, show, add, set.")
feeds_app = typer.Typer(help="How files from each supplier are read and checked.")
files_app = typer.Typer(help="Ingested files and failed file controls.")


@services_app.command("list")
def services_list(
    stage: Annotated[ServiceStage | None, typer.Option(help="only this stage")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Services with their stage, first and last record, and totals."""
    with reading() as (_, session):
        rows = [services.service_out(s) for s in services.list_services(session=session, stage=stage)]
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("service"),
        Column("stage"),
        Column("first seen (UTC)", 1),
        Column("last seen (UTC)"),
        Column("records", 3),
        Column("quantity", 2),
    ]
    lines = [
        [s.name, s.stage, minute(s.first_seen), minute(s.last_seen), f"{s.total_count:,}", f"{s.total_quantity:,.0f}"]
        for s in rows
    ]
    show_list(columns, lines, empty="no services yet: they appear with their first usage record")


def sparkline(values: list[int]) -> str:
    top = max(values) if values else 0
    if top == 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(8, round(v / top * 8))] if v else SPARK[0] for v in values)


def hourly_profile(points: list[Any], now: datetime) -> list[tuple[str, list[int]]]:
    """The last 7 days as one row of 24 hourly counts per day (UTC)."""
    start = (now - timedelta(days=6)).replace(hour=0, minute=0, second=0, microsecond=0)
    by_hour = {p.at: p.count for p in points}
    rows = []
    for day in range(7):
        base = start + timedelta(days=day)
        rows.append((base.strftime("%a %d %b"), [by_hour.get(base + timedelta(hours=h), 0) for h in range(24)]))
    return rows


@services_app.command("show")
def services_show(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One service: stage, settings, totals, the last 7 days, the learned week and open alerts."""
    with reading() as (ctx, session):
        now = ctx.clock.now()
        out = services.service_out(services.get_service(session=session, name=name))
        points = services.service_counts(
            session=session, name=name, resolution="hour", since=now - timedelta(days=7), until=now
        )
        learned = services.learned(session=session, name=name)
        firing = list_alerts(session=session, service=name, status=State.FIRING)
    if as_json:
        print_json(
            {
                "service": out,
                "hourly": points,
                "learned": learned and learned.to_json(),
                "open_alerts": [alert_out(a) for a in firing],
            }
        )
        return
    console.print(f"[bold]{out.name}[/bold]  stage [cyan]{out.stage}[/cyan]")
    console.print(
        f"  first record {when(out.first_seen)}, last record {when(out.last_seen)}, "
        f"last data received {when(out.last_received_at)}"
    )
    console.print(f"  {count(out.total_count, 'record')}, quantity {out.total_quantity:,.1f}")
    console.print(
        f"  settings: {settings_words(out.settings)} (change with `watchkeeper services set`)", highlight=False
    )
    table = Table("day (UTC)", "00h ... 23h", "records", title="last 7 days, records per hour", title_justify="left")
    for label, values in hourly_profile(points, now):
        table.add_row(label, sparkline(values), f"{sum(values):,}")
    console.print(table)
    _print_learned(learned, out.settings.timezone)
    for alert in firing:
        kind = alert.labels.get("kind", "")
        console.print(f"  [red]firing[/red] {kind} since {when(alert.started_at)}: {alert.summary}")
    if not firing:
        console.print("  no open alerts")


def _print_learned(learned: services.Learned | None, zone: str) -> None:
    if learned is None:
        console.print("  not yet evaluated by the feed watcher")
        return
    title = f"learned week ({zone}), expected records per hour"
    table = Table("day", "00h ... 23h", "busiest hour", title=title, title_justify="left")
    for day, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
        hours = learned.profile[day * 24 : day * 24 + 24]
        known = [0 if math.isnan(v) else round(v) for v in hours]
        busiest = "" if all(math.isnan(v) for v in hours) else f"{max(known):,}"
        table.add_row(name, sparkline(known) if any(not math.isnan(v) for v in hours) else "(learning)", busiest)
    console.print(table)
    due = f"silence alert due {when(learned.due_at)} if nothing arrives" if learned.due_at else "no silence deadline"
    console.print(f"  {due}; learned from {count(learned.weeks, 'week')}")


@services_app.command("set")
def services_set(
    name: str,
    stage: Annotated[ServiceStage | None, typer.Option(help="new, test, production or retired")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone the service's week is learned in")] = None,
    sensitivity: Annotated[Sensitivity | None, typer.Option()] = None,
    min_silence: Annotated[str | None, typer.Option(help="never alert on silence sooner, e.g. 10m")] = None,
    max_silence: Annotated[str | None, typer.Option(help="alert on silence by then (in active hours), e.g. 6h")] = None,
    snooze_until: Annotated[datetime | None, typer.Option(help="no alerts before this UTC time")] = None,
    clear_snooze: Annotated[bool, typer.Option(help="end a snooze now")] = False,
    active_hours: Annotated[
        str | None,
        typer.Option(
            help=(
                "local hours the service is expected to send, e.g. 'Mon-Fri 08:00-18:00; Sat 09:00-13:00'; "
                "'' for any time. Outside them no drop alerts, and a silence alerts, at low urgency, "
                "only past --off-hours-max-silence"
            )
        ),
    ] = None,
    off_hours_max_silence: Annotated[
        str | None,
        typer.Option(
            help=(
                "with active hours: outside them, alert (low urgency) only on a silence this long, e.g. 12h; "
                "default 72h, or --max-silence if longer"
            )
        ),
    ] = None,
    holidays: Annotated[str | None, typer.Option(help="country (DE, US-CA) whose holidays are Sundays")] = None,
    value_per_record: Annotated[
        float | None,
        typer.Option(help="what one record is worth (e.g. 0.05): missing records become revenue at risk; -1 clears it"),
    ] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code of --value-per-record (default EUR)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Change a service's stage or settings; unnamed settings stay as they are.

    With active hours, a silence inside them alerts as learned (and by --max-silence at the latest);
    outside them (nights, weekends, holidays with --holidays) a silence alerts only past
    --off-hours-max-silence (72 h unless set), at low urgency, so it pages nobody at night.
    """
    settings = _given_settings(
        timezone, sensitivity, min_silence, max_silence, active_hours, off_hours_max_silence, holidays
    ) | _worth(value_per_record, currency)
    if snooze_until:
        settings["snooze_until"] = snooze_until if snooze_until.tzinfo else snooze_until.replace(tzinfo=UTC)
    if clear_snooze:
        settings["snooze_until"] = None
    _save(services.update_service, name, ServicePatch(stage=stage, settings=settings or None), as_json)


@services_app.command("add")
def services_add(
    name: str,
    stage: Annotated[ServiceStage | None, typer.Option(help="new (default), test or production")] = None,
    customer: Annotated[str | None, typer.Option(help="the customer whose service it is")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone the service's week is learned in")] = None,
    sensitivity: Annotated[Sensitivity | None, typer.Option()] = None,
    min_silence: Annotated[str | None, typer.Option(help="never alert on silence sooner, e.g. 10m")] = None,
    max_silence: Annotated[str | None, typer.Option(help="alert on silence by then, e.g. 6h (default 72h)")] = None,
    active_hours: Annotated[str | None, typer.Option(help="e.g. 'Mon-Fri 08:00-18:00' (see `services set`)")] = None,
    off_hours_max_silence: Annotated[str | None, typer.Option(help="e.g. 12h (see `services set`)")] = None,
    holidays: Annotated[str | None, typer.Option(help="country (DE, US-CA) whose holidays are Sundays")] = None,
    value_per_record: Annotated[
        float | None,
        typer.Option(help="what one record is worth (e.g. 0.05): missing records become revenue at risk; -1 clears it"),
    ] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code of --value-per-record (default EUR)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Set up a service before its first record, e.g. a supplier about to start sending.

    It is watched from now: if no record comes within --max-silence (72 h unless set), that
    silence alerts. Its first record then counts into it as into any service.
    """
    settings = _given_settings(
        timezone, sensitivity, min_silence, max_silence, active_hours, off_hours_max_silence, holidays
    ) | _worth(value_per_record, currency)
    patch = ServicePatch(stage=stage, settings=settings or None, customer=customer)
    _save(services.add_service, name, patch, as_json)


def _worth(value_per_record: float | None, currency: str | None) -> dict[str, Any]:
    """The settings that say what a missing record costs; a negative value clears it."""
    worth: dict[str, Any] = {}
    if value_per_record is not None:
        worth["value_per_record"] = value_per_record if value_per_record >= 0 else None
    if currency:
        worth["currency"] = currency.upper()
    return worth


def _given_settings(
    timezone: str | None,
    sensitivity: Sensitivity | None,
    min_silence: str | None,
    max_silence: str | None,
    active_hours: str | None,
    off_hours_max_silence: str | None,
    holidays: str | None,
) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    try:
        if timezone:
            settings["timezone"] = timezone
        if sensitivity:
            settings["sensitivity"] = sensitivity
        if min_silence:
            settings["min_silence_minutes"] = parse_minutes(min_silence)
        if max_silence:
            settings["max_silence_minutes"] = parse_minutes(max_silence)
        if off_hours_max_silence:
            settings["off_hours_max_silence_minutes"] = parse_minutes(off_hours_max_silence)
        if active_hours is not None:
            settings["active_hours"] = active_hours or None
            if not active_hours:
                settings["off_hours_max_silence_minutes"] = None  # no off hours left to limit
        if holidays is not None:
            settings["holidays"] = holidays or None
    except ValueError as exc:
        raise fail(str(exc)) from exc
    return settings


def _save(change: Any, name: str, patch: ServicePatch, as_json: bool) -> None:
    with storing() as (ctx, session):
        out = services.service_out(change(session=session, name=name, patch=patch, now=ctx.clock.now()))
    if as_json:
        print_json(out)
        return
    owner = f", customer {out.customer}" if out.customer else ""
    console.print(f"{out.name}: stage {out.stage}{owner}; settings: {settings_words(out.settings)}", highlight=False)


def settings_words(settings: ServiceSettings) -> str:
    """The settings that differ from the defaults, as a person reads them: 'max silence 1 h 30 min, ...'."""
    chosen = settings.model_dump(mode="json", exclude_defaults=True)
    shown = ", ".join(
        f"{key.removesuffix('_minutes').replace('_', ' ')} {duration(value) if key.endswith('_minutes') else value}"
        for key, value in chosen.items()
    )
    return shown or "the defaults"


@feeds_app.command("add")
def feeds_add(
    name: str,
    format: Annotated[Format | None, typer.Option("--format")] = None,
    timezone: Annotated[str | None, typer.Option(help="time zone of the feed's local dates")] = None,
    service_column: Annotated[str | None, typer.Option(help="Asterisk column naming the service")] = None,
    sequence_pattern: Annotated[
        str | None, typer.Option(help=r"regex on file names, e.g. 'cdr_(?P<seq>\d+)\.csv'")
    ] = None,
    append: Annotated[
        bool,
        typer.Option(
            "--append", help="its files grow (Asterisk's Master.csv): follow each by name, count what was added"
        ),
    ] = False,
) -> None:
    """Add or replace a feed. Inbox files in a folder of the feed's name use it.

    With --append, a file that grew since it was last ingested under its name
    is counted from where it was counted to; a rotated one (shorter, or its
    start changed) is counted as a new file; an unchanged one is no duplicate."""
    with storing() as (ctx, session):
        services.add_feed(
            session=session,
            clock=ctx.clock,
            name=name,
            format=format,
            timezone=timezone,
            service_column=service_column,
            sequence_pattern=sequence_pattern,
            append=append,
        )
    console.print(f"feed {name} saved")


@feeds_app.command("list")
def feeds_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each feed's file format, time zone, service column and sequence pattern."""
    with reading() as (_, session):
        rows = [
            fields(f, ("name", "format", "timezone", "service_column", "sequence_pattern", "append"))
            for f in services.list_feeds(session=session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("feed", "format", "time zone", "service column", "sequence pattern", "files")
    for r in rows:
        table.add_row(
            *(str(r[k] or "-") for k in ("name", "format", "timezone", "service_column", "sequence_pattern")),
            "appended to" if r["append"] else "new each time",
        )
    console.print(table)


@files_app.command("list")
def files_list(
    feed: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ingested files, newest first."""
    with reading() as (_, session):
        rows = [
            fields(f, ("feed", "name", "sequence", "format", "accepted", "rejected", "received_at", "content_hash"))
            for f in services.list_files(session=session, feed=feed)
        ]
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("received (UTC)"),
        Column("feed", 2),
        Column("file"),
        Column("seq", 1),
        Column("accepted"),
        Column("rejected"),
    ]
    lines = [
        [
            minute(r["received_at"]),
            r["feed"],
            r["name"],
            str(r["sequence"] or "-"),
            f"{r['accepted']:,}",
            f"{r['rejected']:,}",
        ]
        for r in rows
    ]
    show_list(columns, lines, empty="no files ingested yet")


def _alert_state(row: dict[str, Any]) -> str:
    if row["kind"] == "appended_file":
        return "-"  # a note, never an alert
    return "open" if row["resolved_at"] is None else f"resolved {minute(row['resolved_at'])}"


@files_app.command("findings")
def files_findings(
    feed: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Failed file controls: duplicates, sequence gaps, reused numbers, unreadable files (each an alert,
    open until resolved), and appended files (a note)."""
    with reading() as (_, session):
        rows: list[dict[str, Any]] = [
            {
                "at": f.created_at,
                "feed": f.feed,
                "file": f.file_name,
                "kind": f.kind,
                "detail": f.detail,
                "resolved_at": f.resolved_at,
            }
            for f in services.list_findings(session=session, feed=feed)
        ]
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("at (UTC)", 2),
        Column("feed", 1),
        Column("file"),
        Column("kind"),
        Column("alert", 3),
        Column("detail", wide=True),
    ]
    lines = [[minute(r["at"]), r["feed"], r["file"], r["kind"], _alert_state(r), r["detail"]] for r in rows]
    show_list(columns, lines, empty="no findings: every file passed its controls")
