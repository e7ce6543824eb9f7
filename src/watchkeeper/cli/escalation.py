"""`watchkeeper oncall policies|routes|rules`: escalation policies, their routes, personal notification rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from watchkeeper.cli.common import Json, act, console, print_json, reading, storing
from watchkeeper.finding import Urgency
from watchkeeper.oncall import policies
from watchkeeper.oncall.escalation import duration_text, parse_duration, parse_level

policies_app = typer.Typer(help="Escalation policies: levels paged in turn until someone acknowledges.")
routes_app = typer.Typer(help="Which incidents go to which policy: label matchers, the first route that matches wins.")
rules_app = typer.Typer(help="How each person is reached when paged: a channel and a delay, per urgency.")

Levels = Annotated[
    list[str] | None,
    typer.Option(
        "--level",
        help="a level, in order (repeat): 'users=alice,bob;timeout=15m', 'schedule=primary;timeout=30m'; "
        "timeout defaults to 30m",
    ),
]
Repeat = Annotated[int | None, typer.Option(help="how many more times the whole policy runs after its last level")]
AckTimeout = Annotated[
    str | None, typer.Option("--ack-timeout", help="acknowledged but not resolved this long (e.g. 4h): paged again")
]


@policies_app.command("add")
def policies_add(name: str, level: Levels = None, repeat: Repeat = None, ack_timeout: AckTimeout = None) -> None:
    """Add a policy: `oncall policies add ops --level 'users=alice;timeout=15m' --level 'schedule=primary'`."""

    def add(session: Session, now: datetime) -> None:
        policies.add_policy(
            session=session,
            now=now,
            name=name,
            levels=[parse_level(text) for text in level or []],
            repeat=repeat or 0,
            ack_timeout=parse_duration(ack_timeout) if ack_timeout else None,
        )

    act(add, f"policy {name}: {len(level or [])} level(s), repeated {repeat or 0} time(s)")


@policies_app.command("edit")
def policies_edit(name: str, level: Levels = None, repeat: Repeat = None, ack_timeout: AckTimeout = None) -> None:
    """Change a policy (levels given replace all its levels); escalations on their way keep their snapshot."""
    act(
        lambda session, _: policies.edit_policy(
            name,
            session=session,
            levels=[parse_level(text) for text in level] if level else None,
            repeat=repeat,
            ack_timeout=parse_duration(ack_timeout) if ack_timeout else None,
        ),
        f"policy {name} changed; incidents paged already go on as their policy was when they opened",
    )


def _print_policy(view: dict[str, Any]) -> None:
    ack = f"; paged again {view['ack_timeout']} after an acknowledgement" if view["ack_timeout"] else ""
    console.print(f"[bold]{view['name']}[/bold]: repeated {view['repeat']} time(s){ack}")
    for number, lv in enumerate(view["levels"], 1):
        targets = [*lv["users"]] + ([f"on call for {lv['schedule']}"] if lv["schedule"] else [])
        console.print(f"  {number}. {', '.join(targets)}; then {lv['timeout']}")


@policies_app.command("show")
def policies_show(name: str, as_json: Json = False) -> None:
    """A policy's levels, repeat and acknowledgement timeout."""
    with reading() as (_, session):
        view = policies.policy_view(policies.get_policy(name, session=session))
    if as_json:
        print_json(view)
        return
    _print_policy(view)


@policies_app.command("list")
def policies_list(as_json: Json = False) -> None:
    """Every escalation policy, with its levels."""
    with reading() as (_, session):
        views = [policies.policy_view(row) for row in policies.list_policies(session=session)]
    if as_json:
        print_json(views)
        return
    if not views:
        console.print("no escalation policies; add one with `watchkeeper oncall policies add`")
    for view in views:
        _print_policy(view)


@policies_app.command("remove")
def policies_remove(name: str) -> None:
    """Remove a policy no route uses; incidents paged already keep their snapshot."""
    act(lambda session, _: policies.remove_policy(name, session=session), f"policy {name} removed")


@routes_app.command("add")
def routes_add(
    policy: str,
    match: Annotated[
        list[str] | None,
        typer.Option(
            "--match",
            "-m",
            help="label matcher (repeat; all must match): customer=Acme, service=~'voip-.*', severity!=info; "
            "none: every incident (the default route, put it last)",
        ),
    ] = None,
) -> None:
    """Send incidents whose labels match to POLICY; routes are tried in the order added."""
    with storing() as (ctx, session):
        route = policies.add_route(session=session, now=ctx.clock.now(), policy=policy, matchers=match or [])
        number = route.id
    console.print(f"route {number}: {' '.join(match or []) or 'every incident'} -> {policy}")


@routes_app.command("list")
def routes_list(as_json: Json = False) -> None:
    """The routes, in the order they are tried."""
    with reading() as (_, session):
        views = [policies.route_view(r, name) for r, name in policies.list_routes(session=session)]
    if as_json:
        print_json(views)
        return
    table = Table("route", "matches", "policy")
    for view in views:
        table.add_row(str(view["id"]), " ".join(view["matchers"]) or "every incident", view["policy"])
    console.print(table if views else "no routes: no incident is paged; add one with `watchkeeper oncall routes add`")


@routes_app.command("remove")
def routes_remove(route_id: int) -> None:
    """Remove a route."""
    act(lambda session, _: policies.remove_route(route_id, session=session), f"route {route_id} removed")


@rules_app.command("add")
def rules_add(
    name: str,
    channel: Annotated[str, typer.Option(help="Apprise URL (mailto://..., tgram://...) or sip:NUMBER for a call")],
    urgency: Annotated[Urgency, typer.Option(help="high (pages that wake) or low")] = Urgency.HIGH,
    after: Annotated[str, typer.Option(help="how long after their level is paged (0m: at once)")] = "0m",
) -> None:
    """Reach NAME on CHANNEL, AFTER their level is paged, for pages of URGENCY."""
    with storing() as (ctx, session):
        delay = parse_duration(after)
        rule = policies.add_rule(
            name, session=session, now=ctx.clock.now(), urgency=urgency, channel=channel, delay=delay
        )
        number = rule.id
    console.print(
        f"{name}: rule {number}, {urgency} urgency, {'at once' if not delay else 'after ' + duration_text(delay)}"
    )


@rules_app.command("list")
def rules_list(name: str, as_json: Json = False) -> None:
    """NAME's notification rules, by urgency, soonest first."""
    with reading() as (_, session):
        views = [policies.rule_view(r) for r in policies.list_rules(name, session=session)]
    if as_json:
        print_json(views)
        return
    table = Table("rule", "urgency", "channel", "after")
    for view in views:
        table.add_row(str(view["id"]), view["urgency"], view["channel"], view["after"])
    console.print(table if views else f"{name} has no rules: paged on their channels at once")


@rules_app.command("remove")
def rules_remove(name: str, rule_id: int) -> None:
    """Remove one of NAME's rules."""
    act(lambda session, _: policies.remove_rule(name, rule_id, session=session), f"{name}: rule {rule_id} removed")
