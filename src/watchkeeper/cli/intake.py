"""`watchkeeper integrations`: keys for the monitors that push alerts."""

from __future__ import annotations

from typing import Annotated

import typer

from watchkeeper.cli.common import console, fields, print_json, reading, show_table, storing, when
from watchkeeper.intake import service as intake
from watchkeeper.intake.service import Kind

integrations_app = typer.Typer(help="Integration keys for Alertmanager, PagerDuty-format senders and generic JSON.")
_WHERE = {
    Kind.ALERTMANAGER: "Alertmanager webhook_configs url: http://HOST:PORT/api/v1/intake/alertmanager/{key} "
    "(with send_resolved: true)",
    Kind.PAGERDUTY: "PagerDuty Events v2: POST http://HOST:PORT/v2/enqueue with routing_key {key}",
    Kind.GENERIC: "POST JSON to http://HOST:PORT/api/v1/intake/generic/{key}",
}


@integrations_app.command("create")
def integrations_create(
    kind: Annotated[Kind, typer.Option(help="alertmanager, pagerduty or generic")],
    name: Annotated[str, typer.Option(help="what sends through it, e.g. prometheus-prod")],
) -> None:
    """Create a key; it is printed once and stored only hashed."""
    with storing() as (ctx, session):
        new = intake.create(session=session, clock=ctx.clock, kind=kind, name=name)
    console.print(f"integration {new.record.id} ({kind}, {name}); the key is shown once, keep it safe:")
    console.print(_WHERE[kind].format(key=new.key), soft_wrap=True)
    typer.echo(new.key)


@integrations_app.command("list")
def integrations_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every intake integration: its kind, name and key prefix (never the key)."""
    with reading() as (_, session):
        rows = [
            fields(i, ("id", "kind", "name", "prefix", "created_at", "revoked_at"))
            for i in intake.list_integrations(session=session)
        ]
    if as_json:
        print_json(rows)
        return
    show_table(
        ("id", "kind", "name", "key starts", "created", "revoked"),
        (
            (
                str(r["id"]),
                r["kind"],
                r["name"],
                r["prefix"] + "...",
                when(r["created_at"]),
                when(r["revoked_at"]) if r["revoked_at"] else "",
            )
            for r in rows
        ),
        empty="no integrations",
    )


@integrations_app.command("revoke")
def integrations_revoke(integration_id: int) -> None:
    """Revoke an integration's key at once; its sender's events are refused (404) from then on."""
    with storing() as (ctx, session):
        intake.revoke(session=session, clock=ctx.clock, integration_id=integration_id)
    console.print(f"integration {integration_id} revoked; its key no longer works")
