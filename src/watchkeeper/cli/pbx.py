"""`watchkeeper pbx add|list|show|remove`: a PBX watched over its manager interface, with its checks grouped."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from watchkeeper import models  # noqa: F401  (every table, for the alerts a removal resolves)
from watchkeeper.checks import pbxes
from watchkeeper.cli.common import Column, Json, console, print_json, reading, show_list, storing, when
from watchkeeper.cli.common import parse_duration as duration

pbx_app = typer.Typer(help="PBXs watched over the Asterisk Manager Interface, with a SIP OPTIONS check.")


@pbx_app.command("add")
def add(
    name: str,
    ami: Annotated[str, typer.Option("--ami", help="the manager interface, HOST[:5038]")],
    ami_user: Annotated[str, typer.Option("--ami-user", help="the manager.conf user")],
    ami_secret: Annotated[
        str, typer.Option("--ami-secret", help="its secret; stored sealed, never shown", prompt=True, hide_input=True)
    ],
    sip: Annotated[str | None, typer.Option("--sip", help="SIP OPTIONS to HOST[:5060] as its parent check")] = None,
    sip_transport: Annotated[str, typer.Option("--sip-transport", help="udp or tcp")] = "udp",
    config: Annotated[
        list[str] | None, typer.Option("--config", help="a file whose changes to note, repeatable: pjsip.conf")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="whose it is")] = None,
    service_name: Annotated[str | None, typer.Option("--service", help="the service it carries")] = None,
    interval: Annotated[str, typer.Option(help="how often to look: 60s, 5m")] = "60s",
    timezone: Annotated[str, typer.Option("--timezone", help="the PBX's own zone (CoreStatus's times)")] = "UTC",
    timeout: Annotated[float, typer.Option(help="seconds to wait for each answer")] = pbxes.DEFAULT_TIMEOUT,
    chan_sip: Annotated[bool, typer.Option("--chan-sip", help="also read chan_sip's registrations")] = False,
    as_json: Json = False,
) -> None:
    """Add a PBX: its AMI check, a SIP OPTIONS check with --sip, and the rule that makes that check its parent."""
    every = duration(interval)
    with storing() as (ctx, session):
        from watchkeeper.auth.customers import get_customer

        spec = pbxes.PbxInput(
            name=name,
            ami=ami,
            username=ami_user,
            secret=ami_secret,
            sip=sip,
            sip_transport=sip_transport,
            config_files=config or [],
            customer_id=get_customer(customer, session=session).id if customer else None,
            interval=every,
            service=service_name,
            zone=timezone,
            timeout=timeout,
            chan_sip=chan_sip,
        )
        shown = pbxes.pbx_view(pbxes.add(spec, session=session, now=ctx.clock.now()), session=session)
    if as_json:
        print_json(shown)
        return
    console.print(f"added PBX {shown['name']}: AMI {shown['ami']} as {shown['ami_user']}, every {every}")
    if shown["options_check"]:
        console.print(f"SIP OPTIONS check {shown['options_check']} to {shown['sip']} is its parent")


@pbx_app.command("list")
def list_pbxes(as_json: Json = False) -> None:
    """Every PBX, its state and last look."""
    with reading() as (_ctx, session):
        rows = [pbxes.pbx_view(c, session=session) for c in pbxes.list_pbxes(session=session)]
    if as_json:
        print_json(rows)
        return
    columns = [Column("name"), Column("status"), Column("AMI", 1), Column("SIP", 2), Column("last look (UTC)", 3)]
    lines = [[r["name"], str(r["status"]), r["ami"], r["sip"] or "-", when(r["last_look_at"])] for r in rows]
    show_list(columns, lines, empty="no PBXs yet: `watchkeeper pbx add NAME --ami HOST --ami-user U`")


@pbx_app.command("show")
def show(
    name: str,
    hours: Annotated[int, typer.Option(help="channels and calls of the last hours", min=1, max=24 * 31)] = 24,
    as_json: Json = False,
) -> None:
    """A PBX: its last look (trunks, start, files), its channels and calls over time, its changes."""
    with reading() as (ctx, session):
        shown = pbxes.pbx_detail(pbxes.get(name, session=session), session=session, now=ctx.clock.now(), hours=hours)
    if as_json:
        print_json(shown)
        return
    _print(shown, hours)


def _print(shown: dict[str, Any], hours: int) -> None:
    console.print(f"[bold]{shown['name']}[/bold] {shown['status']}  AMI {shown['ami']} as {shown['ami_user']}")
    if shown["options_check"]:
        console.print(
            f"parent: SIP OPTIONS check {shown['options_check']} to {shown['sip']} ({shown['sip_transport']})"
        )
    console.print(f"every {shown['interval_seconds']} s, last look {when(shown['last_look_at'])}")
    snap = shown["snapshot"]
    if snap is None:
        console.print("not looked at yet")
        return
    console.print(f"up since {when(snap['started_at'])}, reloaded {when(snap['reloaded_at'])}")
    for trunk in snap["trunks"]:
        console.print(
            f"  trunk {trunk['name']}: {trunk['status']}" + (f" ({trunk['detail']})" if trunk["detail"] else "")
        )
    for file, digest in snap["config_hashes"].items():
        console.print(f"  {file}: " + (digest[:12] if digest else "could not be read"))
    readings = shown["readings"]
    if readings:
        peak = max(readings, key=lambda r: r["channels"])
        calls = max(r["calls"] for r in readings)
        console.print(
            f"channels now {snap['channels']}, calls now {snap['calls']}; last {hours} h: "
            f"peak {peak['channels']} channels at {when(peak['at'])}, {calls} calls at most ({len(readings)} looks)"
        )
    if shown["changes"]:
        console.print("changes (restarts, reloads, files), newest first:")
    for change in shown["changes"]:
        console.print(f"  {when(change['at'])}  {change['change']}")


@pbx_app.command("remove")
def remove(name: str) -> None:
    """Remove a PBX: its checks, their looks, and its dependency rule; what it had firing resolves."""
    with storing() as (ctx, session):
        from watchkeeper.alerts.service import RoutingConfig, record_all

        now = ctx.clock.now()
        findings = pbxes.remove(pbxes.get(name, session=session), session=session, now=now)
        record_all(findings, session=session, now=now, config=RoutingConfig.from_settings(ctx.settings))
    console.print(f"removed PBX {name}")
