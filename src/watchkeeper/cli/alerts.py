"""`watchkeeper alerts|silences|maintenance|dependencies`: what fires, and what keeps it quiet."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from watchkeeper import models  # noqa: F401  (alerts' tables refer to incidents')
from watchkeeper.alerts import mutes
from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.models import Alert
from watchkeeper.alerts.schemas import AlertOut, DependencyOut, SilenceOut, WindowOut
from watchkeeper.cli.common import (
    Column,
    Json,
    OnlyService,
    OnlyUrgency,
    act,
    console,
    fail,
    minute,
    operator,
    parse_duration,
    parse_instant,
    print_json,
    reading,
    show_list,
    show_table,
    storing,
    when,
)
from watchkeeper.finding import State

alerts_app = typer.Typer(help="Alerts from feeds and external monitors.")
silences_app = typer.Typer(help="Mute alerts matching labels for a while (Alertmanager-style matchers).")
maintenance_app = typer.Typer(help="Maintenance windows: one-off, weekly, or cron + duration, in a time zone.")
dependencies_app = typer.Typer(help="A parent's alert (host, supplier link, PBX) mutes its dependants' alerts.")
Matchers = Annotated[
    list[str],
    typer.Option(
        "--match", "-m", help='label matcher, repeatable: service=voip-de, severity!=info, instance=~"pbx-.*"'
    ),
]
Force = Annotated[bool, typer.Option("--force", help="allow matchers that mute every alert having a label")]


@alerts_app.command("list")
def alerts_list(
    service: OnlyService = None,
    status: Annotated[State | None, typer.Option(help="firing or resolved")] = None,
    urgency: OnlyUrgency = None,
    limit: int = 100,
    as_json: Json = False,
) -> None:
    """Newest first; a muted alert says why."""
    with reading() as (_, session):
        rows = [
            alert_out(a)
            for a in alerts.list_alerts(session=session, service=service, status=status, urgency=urgency, limit=limit)
        ]
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("id"),
        Column("status"),
        Column("service / instance"),
        Column("severity", 3),
        Column("urgency", 5),
        Column("count", 2),
        Column("first seen (UTC)", 1),
        Column("resolved (UTC)", 0),
        Column("incident", 4),
        Column("summary", wide=True),
    ]
    lines = []
    for row in rows:
        colour = "red" if row["status"] == State.FIRING else "green"
        state = f"[{colour}]{row['status']}[/{colour}]" + (f" ({row['muted']})" if row["muted"] else "")
        state += " flapping" if row["flapping"] else ""
        where = row["service"] or row["labels"].get("instance", row["source"])
        summary = row["summary"] + (f"\n[dim]{row['muted_reason']}[/dim]" if row["muted_reason"] else "")
        lines.append(
            [
                str(row["id"]),
                state,
                where,
                row["severity"],
                row["urgency"],
                str(row["count"]),
                minute(row["first_seen"]),
                minute(row["resolved_at"]),
                str(row["incident_id"] or ""),
                summary,
            ]
        )
    show_list(columns, lines, empty="no alerts")


def alert_out(alert: Alert) -> dict[str, Any]:
    return AlertOut.model_validate(alert).model_dump()


@silences_app.command("add")
def silences_add(
    match: Matchers,
    comment: Annotated[str, typer.Option(help="why; the next person on call will ask")],
    duration: Annotated[str | None, typer.Option(help="how long, e.g. 2h")] = None,
    until: Annotated[str | None, typer.Option(help="or until this instant (ISO 8601)")] = None,
    author: Annotated[str | None, typer.Option(help="who (default: $USER)")] = None,
    force: Force = False,
    as_json: Json = False,
) -> None:
    """Mute every alert matching all the matchers; alerts are still recorded.

    One matcher must name something (service=voip-de, instance=~"pbx-.*"):
    matchers that take any value of a label (service=~".+") need --force."""
    if (duration is None) == (until is None):
        raise fail("give --duration or --until")
    with storing() as (ctx, session):
        now = ctx.clock.now()
        ends_at = now + parse_duration(duration) if duration else parse_instant(until or "")
        silence = mutes.add_silence(
            session=session,
            now=now,
            matchers=match,
            ends_at=ends_at,
            created_by=author or operator(),
            comment=comment,
            force=force,
        )
        out = SilenceOut.model_validate(silence).model_dump()
    if as_json:
        print_json(out)
        return
    console.print(f"silence {out['id']} until {when(out['ends_at'])}: {' '.join(out['matchers'])}")


@silences_app.command("list")
def silences_list(
    expired: Annotated[bool, typer.Option(help="include ended silences")] = False, as_json: Json = False
) -> None:
    """The silences in force (or that will be), with who set them and why."""
    with reading() as (ctx, session):
        rows = [
            SilenceOut.model_validate(s).model_dump()
            for s in mutes.list_silences(session=session, now=ctx.clock.now(), include_expired=expired)
        ]
    if as_json:
        print_json(rows)
        return
    show_table(
        ("id", "matchers", "from", "until", "by", "comment"),
        (
            (
                str(r["id"]),
                " ".join(r["matchers"]),
                when(r["starts_at"]),
                when(r["ends_at"]),
                r["created_by"],
                r["comment"],
            )
            for r in rows
        ),
        empty="no active silences",
    )


@silences_app.command("expire")
def silences_expire(silence_id: int) -> None:
    """End a silence now; what it muted and still fires is raised."""
    act(lambda s, now: mutes.expire_silence(silence_id, session=s, now=now), f"silence {silence_id} expired")


@maintenance_app.command("add")
def maintenance_add(
    name: Annotated[str, typer.Option(help="what the work is")],
    match: Matchers,
    start: Annotated[str | None, typer.Option(help="one-off: from this instant (ISO 8601)")] = None,
    end: Annotated[str | None, typer.Option(help="one-off: until this instant")] = None,
    hours: Annotated[
        str | None, typer.Option(help="weekly: days and local times, 'Sun 01:00-05:00', 'Mon-Fri 22:00-02:00'")
    ] = None,
    days: Annotated[str | None, typer.Option(help="weekly: Mon-Fri, Sun, Sat,Sun")] = None,
    from_time: Annotated[str | None, typer.Option("--from", help="weekly: local start, 22:00")] = None,
    to_time: Annotated[str | None, typer.Option("--to", help="weekly: local end, 02:00 (next day)")] = None,
    cron: Annotated[str | None, typer.Option(help="cron: '0 2 * * 0' (local time)")] = None,
    duration: Annotated[str | None, typer.Option(help="cron: how long each time, e.g. 2h")] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone of --from/--to/--cron")] = "UTC",
    force: Force = False,
    as_json: Json = False,
) -> None:
    """Alerts in a window are recorded but not raised; one still firing when it ends is raised then."""
    with storing() as (ctx, session):
        window = mutes.add_window(
            session=session,
            now=ctx.clock.now(),
            name=name,
            matchers=match,
            created_by=operator(),
            timezone=timezone,
            starts_at=parse_instant(start) if start else None,
            ends_at=parse_instant(end) if end else None,
            hours=hours,
            weekdays=days,
            start=from_time,
            end=to_time,
            cron=cron,
            duration=parse_duration(duration) if duration else None,
            force=force,
        )
        out = WindowOut.model_validate(window).model_dump()
        described = alerts.window_rule(window).describe()
    if as_json:
        print_json(out)
        return
    console.print(f"maintenance window {out['id']} ({name}): {described}, for {' '.join(out['matchers'])}")


@maintenance_app.command("list")
def maintenance_list(as_json: Json = False) -> None:
    """Every maintenance window, one-off, weekly or cron, and what it covers."""
    with reading() as (_, session):
        windows = mutes.list_windows(session=session)
        rows = [WindowOut.model_validate(w).model_dump() | {"when": alerts.window_rule(w).describe()} for w in windows]
    if as_json:
        print_json(rows)
        return
    show_table(
        ("id", "name", "when", "for"),
        ((str(r["id"]), r["name"], r["when"], " ".join(r["matchers"])) for r in rows),
        empty="no maintenance windows",
    )


@maintenance_app.command("delete")
def maintenance_delete(window_id: int) -> None:
    """Delete a window; alerts it muted that still fire are raised."""
    act(lambda s, now: mutes.delete_window(window_id, session=s, now=now), f"maintenance window {window_id} deleted")


@dependencies_app.command("add")
def dependencies_add(
    name: Annotated[str, typer.Option(help="e.g. 'trunks depend on their PBX'")],
    parent: Annotated[list[str], typer.Option(help="matcher for the parent's alert, repeatable")],
    child: Annotated[list[str], typer.Option(help="matcher for the dependants' alerts, repeatable")],
    equal: Annotated[list[str] | None, typer.Option(help="label both must share, e.g. instance")] = None,
    as_json: Json = False,
) -> None:
    """Like an Alertmanager inhibit rule; `equal` labels must be present and equal on both."""
    with storing() as (ctx, session):
        row = mutes.add_dependency(
            session=session, now=ctx.clock.now(), name=name, parent=parent, child=child, equal=equal or []
        )
        out = DependencyOut.model_validate(row).model_dump()
    if as_json:
        print_json(out)
        return
    console.print(
        f"dependency {out['id']}: {' '.join(out['child'])} depends on {' '.join(out['parent'])}"
        + (f" with equal {', '.join(out['equal'])}" if out["equal"] else "")
    )


@dependencies_app.command("list")
def dependencies_list(as_json: Json = False) -> None:
    """Every dependency: which parent alert mutes which children, on which shared labels."""
    with reading() as (_, session):
        rows = [DependencyOut.model_validate(d).model_dump() for d in mutes.list_dependencies(session=session)]
    if as_json:
        print_json(rows)
        return
    show_table(
        ("id", "name", "parent", "child", "equal"),
        ((str(r["id"]), r["name"], " ".join(r["parent"]), " ".join(r["child"]), ", ".join(r["equal"])) for r in rows),
        empty="no dependencies",
    )


@dependencies_app.command("delete")
def dependencies_delete(dependency_id: int) -> None:
    """Delete a dependency; children it muted that still fire are raised."""
    act(
        lambda s, now: mutes.delete_dependency(dependency_id, session=s, now=now), f"dependency {dependency_id} deleted"
    )
