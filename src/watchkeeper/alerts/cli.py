"""`watchkeeper alerts`: what is firing and what fired."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.finding import State
from watchkeeper.cli_common import console, context, print_json, when

alerts_app = typer.Typer(help="Alerts from feeds and (later) external monitors.")


@alerts_app.command("list")
def alerts_list(
    service: Annotated[str | None, typer.Option(help="only this service")] = None,  # noqa: UP007
    status: Annotated[State | None, typer.Option(help="firing or resolved")] = None,  # noqa: UP007
    limit: int = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Newest first."""
    ctx = context()
    with ctx.transaction() as session:
        rows = [alert_out(a) for a in alerts.list_alerts(session=session, service=service, status=status, limit=limit)]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "status", "service", "kind", "urgency", "started", "raised", "resolved", "summary")
    for row in rows:
        colour = "red" if row["status"] == State.FIRING else "green"
        table.add_row(str(row["id"]), f"[{colour}]{row['status']}[/{colour}]", row["service"] or "",
                      row["labels"].get("kind", row["source"]), row["urgency"], when(row["started_at"]),
                      when(row["first_seen"]), when(row["resolved_at"]) if row["resolved_at"] else "",
                      row["summary"])  # fmt: skip
    console.print(table)


def alert_out(alert: alerts.Alert) -> dict:
    return {
        name: getattr(alert, name)
        for name in ("id", "dedup_key", "source", "service", "severity", "urgency", "status", "summary", "labels",
                     "started_at", "first_seen", "last_seen", "count", "resolved_at", "resolution")
    }  # fmt: skip
