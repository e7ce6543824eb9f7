"""`watchkeeper incidents`: list, show with timeline, acknowledge, escalate, resolve, close, note, MTTA/MTTR."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from watchkeeper.alerts.service import RoutingConfig
from watchkeeper.cli.common import (
    By,
    Column,
    Json,
    OnlyService,
    OnlyUrgency,
    console,
    minute,
    operator,
    parse_duration,
    print_json,
    reading,
    show_list,
    storing,
    when,
)
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.lifecycle import Action, Status
from watchkeeper.incidents.schemas import IncidentOut
from watchkeeper.incidents.views import detail, moved_out, still_firing_lines, timings_out

incidents_app = typer.Typer(help="Incidents: alerts grouped, with a lifecycle and a timeline.")
_COLOUR = {Status.TRIGGERED: "red", Status.ACKNOWLEDGED: "yellow", Status.RESOLVED: "green", Status.CLOSED: "dim"}


@incidents_app.command("list")
def incidents_list(
    status: Annotated[Status | None, typer.Option(help="triggered, acknowledged, resolved, closed")] = None,
    service: OnlyService = None,
    customer: Annotated[str | None, typer.Option(help="only this customer's (its services')")] = None,
    urgency: OnlyUrgency = None,
    limit: int = 50,
    as_json: Json = False,
) -> None:
    """Newest first."""
    with reading() as (_, session):
        rows = [
            IncidentOut.model_validate(i).model_dump()
            for i in incidents.list_incidents(
                session=session, status=status, service=service, customer=customer, urgency=urgency, limit=limit
            )
        ]
    if as_json:
        print_json(rows)
        return
    # The group (service=..., alertname=...,instance=...) says what an incident is about: it wraps, never goes.
    columns = [
        Column("id"),
        Column("status"),
        Column("urgency", 4),
        Column("severity", 2),
        Column("group", wide=True),
        Column("opened (UTC)", 3),
        Column("title", wide=True),
    ]
    lines = [
        [
            str(r["id"]),
            f"[{_COLOUR[Status(r['status'])]}]{r['status']}[/]",
            r["urgency"],
            r["severity"],
            r["group_key"],
            minute(r["created_at"]),
            r["title"],
        ]
        for r in rows
    ]
    show_list(columns, lines, empty="no incidents")


@incidents_app.command("show")
def incidents_show(incident_id: int, as_json: Json = False) -> None:
    """The incident, its alerts and its timeline."""
    from watchkeeper.oncall.paging import paging_view

    with reading() as (_, session):
        out = detail(incidents.get(incident_id, session=session), session)
        out = {
            **out,
            "paging": paging_view(incident_id, session=session),
            "alerts": [a.model_dump() for a in out["alerts"]],
            "timeline": [e.model_dump() for e in out["timeline"]],
        }
    if as_json:
        print_json(out)
        return
    _print_detail(out)


def _print_detail(out: dict[str, Any]) -> None:
    colour = _COLOUR[Status(out["status"])]
    console.print(
        f"[bold]incident {out['id']}[/bold] [{colour}]{out['status']}[/{colour}] "
        f"{out['urgency']} urgency, {out['severity']}: {out['title']}"
    )
    console.print(
        f"group {out['group_key']}; opened {when(out['created_at'])}"
        + (
            f"; acknowledged {when(out['acknowledged_at'])} by {out['acknowledged_by']}"
            if out["acknowledged_at"]
            else ""
        )
        + (f"; resolved {when(out['resolved_at'])} by {out['resolved_by']}" if out["resolved_at"] else "")
    )
    alerts = Table("alert", "status", "severity", "count", "summary", title="alerts", title_justify="left")
    for a in out["alerts"]:
        status = a["status"] + (" flapping" if a["flapping"] else "")
        if a["status"] == "firing" and a["incident_id"] != out["id"]:  # it still fired when this one was resolved
            status += f", now in incident {a['incident_id']}" if a["incident_id"] else f", {a['muted'] or 'unraised'}"
        alerts.add_row(str(a["id"]), status, a["severity"], str(a["count"]), a["summary"])
    console.print(alerts)
    for url in dict.fromkeys(a["runbook_url"] for a in out["alerts"] if a["runbook_url"]):
        console.print(f"runbook: {url}", highlight=False, markup=False, soft_wrap=True)
    _print_paging(out.get("paging"))
    timeline = Table("at", "what", "who", "", title="timeline", title_justify="left")
    for e in out["timeline"]:
        timeline.add_row(when(e["at"]), e["kind"], e["actor"], e["message"])
    console.print(timeline)


def _print_paging(paging: dict[str, Any] | None) -> None:
    if paging is None:
        console.print("paging: no escalation policy took this incident")
        return
    head = f"paging: policy {paging['policy']}, {paging['status']}, {paging['urgency']} urgency"
    console.print(head + (f"; level {paging['level']} paged" if paging["level"] else ""), markup=False)
    for page in paging["paged"]:
        console.print(f"  {page['user']} on {page['channel']}: {page['status']} {when_text(page['at'])}", markup=False)
    upcoming = paging["next"]
    console.print(
        f"  next: {upcoming['what']}, at {when_text(upcoming['at'])}" if upcoming else "  next: nothing more",
        markup=False,
    )


def when_text(iso: str) -> str:
    return when(datetime.fromisoformat(iso))


def _act(incident_id: int, action: Action, by: str | None, note: str | None = None) -> None:
    with storing() as (ctx, session):
        moved = incidents.move_by_hand(
            incident_id,
            action,
            actor=by or operator(),
            session=session,
            now=ctx.clock.now(),
            config=RoutingConfig.from_settings(ctx.settings),
            note=note,
        )
        out = moved_out(moved.incident, moved.still_firing)
    console.print(f"incident {incident_id} {out.status}")
    for line in still_firing_lines(out):
        console.print(line, highlight=False, markup=False, soft_wrap=True)  # a command stays one line


@incidents_app.command("ack")
def incidents_ack(incident_id: int, by: By = None) -> None:
    """Acknowledge: someone is on it."""
    _act(incident_id, Action.ACKNOWLEDGE, by)


@incidents_app.command("escalate")
def incidents_escalate(incident_id: int, by: By = None) -> None:
    """Page the escalation's next level now instead of after its timeout (after the last level, the next pass)."""
    from watchkeeper.oncall.paging import escalate_now, escalated_text

    with storing() as (ctx, session):
        done = escalate_now(incident_id, session=session, now=ctx.clock.now(), actor=by or operator())
    console.print(escalated_text(incident_id, done), highlight=False, markup=False, soft_wrap=True)


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: int, note: Annotated[str | None, typer.Option(help="what fixed it")] = None, by: By = None
) -> None:
    """Resolve by hand, with a note. An alert that still fires is raised again at once, in a new incident
    (unless a silence mutes it): silence it first if it is expected. Alerts that fire later open a new one too."""
    _act(incident_id, Action.RESOLVE, by, note)


@incidents_app.command("close")
def incidents_close(incident_id: int, by: By = None) -> None:
    """Close a resolved incident: reviewed, nothing more to do. An alert still in it that fires is raised again."""
    _act(incident_id, Action.CLOSE, by)


@incidents_app.command("note")
def incidents_note(incident_id: int, text: str, by: By = None) -> None:
    """Add a note to the timeline."""
    with storing() as (ctx, session):
        incidents.add_note(incident_id, text, actor=by or operator(), session=session, now=ctx.clock.now())
    console.print(f"note added to incident {incident_id}")


@incidents_app.command("stats")
def incidents_stats(
    period: Annotated[str, typer.Option(help="incidents opened in the last ..., e.g. 30d")] = "30d",
    service: OnlyService = None,
    as_json: Json = False,
) -> None:
    """MTTA and MTTR, read from the incidents' timelines."""
    with reading() as (ctx, session):
        now = ctx.clock.now()
        out = timings_out(
            incidents.response_times(session=session, since=now - parse_duration(period), until=now, service=service)
        )
    if as_json:
        print_json(out)
        return

    def span(seconds: float | None) -> str:
        return "-" if seconds is None else str(timedelta(seconds=round(seconds)))

    count = out["incidents"]
    console.print(
        f"{count} incident{'' if count == 1 else 's'} in the last {period}: "
        f"{out['acknowledged']} acknowledged, {out['resolved']} resolved"
    )
    console.print(
        f"MTTA {span(out['mtta_seconds'])} (median {span(out['median_tta_seconds'])}), "
        f"MTTR {span(out['mttr_seconds'])} (median {span(out['median_ttr_seconds'])})"
    )
