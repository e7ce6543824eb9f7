"""The commands that belong to no domain: db, token, serve and demo (see watchkeeper.cli)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from watchkeeper.auth import service as tokens
from watchkeeper.cli.common import (
    Column,
    Context,
    Json,
    console,
    context,
    fail,
    minute,
    print_json,
    reading,
    show_list,
    storing,
)
from watchkeeper.db import current_revision, upgrade
from watchkeeper.feeds.service import apply_retention
from watchkeeper.scheduler import Scheduler
from watchkeeper.wiring import jobs

db_app = typer.Typer(help="Database schema.")
token_app = typer.Typer(help="API bearer tokens (stored hashed; shown once).")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations to the database named by WATCHKEEPER_DATABASE_URL."""
    ctx = context()
    upgrade(ctx.engine)
    console.print(f"database at revision {current_revision(ctx.engine)}")


@db_app.command("prune")
def db_prune() -> None:
    """Apply retention now (serve does it hourly): old minute and hour counts, old batch keys."""
    with reading() as (ctx, session):
        removed = apply_retention(session=session, clock=ctx.clock, settings=ctx.settings)
    console.print(", ".join(f"{n:,} {table}" for table, n in removed.items()) + " removed")


_ROLES = "admin, engineer (staff), customer (their own view) or ingest (a supplier: posts usage only)"
_SERVICES = "for an ingest token: the services it may post usage for, a regex ('acme-.*')"


@token_app.command("create")
def token_create(
    name: Annotated[str | None, typer.Option(help="who or what will use it (default: the user's name)")] = None,
    user: Annotated[str | None, typer.Option(help="a user (`watchkeeper users add`) it speaks for")] = None,
    role: Annotated[str | None, typer.Option(help=_ROLES)] = None,
    customer: Annotated[str | None, typer.Option(help="for a customer token: whose")] = None,
    services: Annotated[str | None, typer.Option(help=_SERVICES)] = None,
    feed: Annotated[str | None, typer.Option(help="for an ingest token: the feed whose files it reads")] = None,
) -> None:
    """A bearer token. A customer token reads only that customer's services, alerts and incidents;
    an ingest token, for a supplier, posts usage and reads its feed's files, nothing else."""
    from watchkeeper.auth.customers import get_customer
    from watchkeeper.auth.users import get_user

    with storing() as (ctx, session):
        person = get_user(user, session=session) if user else None
        if person is not None and (role or customer):
            raise ValueError(f"a token for {person.name} has their role ({person.role}); drop --role/--customer")
        if person is None and not name:
            raise ValueError("say who uses it: --name NAME, or --user NAME for one of `watchkeeper users list`")
        customer_id = get_customer(customer, session=session).id if customer else None
        new = tokens.create_token(
            session=session,
            clock=ctx.clock,
            name=name or (person.name if person else ""),
            role=role or "engineer",
            customer_id=customer_id,
            user=person,
            services=services,
            feed=feed,
        )
    console.print(f"{new.record.role} token {new.record.id} ({new.record.name}), shown once, keep it safe:")
    typer.echo(new.token)


@token_app.command("list")
def token_list(as_json: Json = False) -> None:
    """Every token: its role, whose it is, what it is limited to; never the secret."""
    with reading() as (_, session):
        rows = [tokens.token_view(t, session=session) for t in tokens.list_tokens(session=session)]
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("id"),
        Column("name"),
        Column("role"),
        Column("user", 5),
        Column("customer", 5),
        Column("limited to", 6),
        Column("starts with", 3),
        Column("created", 2),
        Column("revoked", 4),
    ]
    lines = [
        [
            str(r["id"]),
            r["name"],
            r["role"],
            r["user"] or "-",
            r["customer"] or "-",
            ", ".join(f"{k} {r[k]}" for k in ("services", "feed") if r[k]) or "-",
            r["prefix"] + "...",
            minute(r["created_at"]),
            minute(r["revoked_at"]) or "-",
        ]
        for r in rows
    ]
    show_list(columns, lines, empty="no tokens; `watchkeeper token create --name NAME`")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token at once; its requests get 401 from then on."""
    with storing() as (ctx, session):
        tokens.revoke_token(session=session, clock=ctx.clock, token_id=token_id)
    console.print(f"token {token_id} revoked")


def serve(
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every one)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    inbox: Annotated[Path | None, typer.Option(help="watch this folder for usage files")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="on the demo's database: its suppliers keep sending")] = False,
) -> None:
    """Run the API and the scheduler (inbox, retention) in one process.

    The port is taken first: a start that cannot listen sets nothing up. Enquiry
    links start with WATCHKEEPER_PUBLIC_URL, by default the address listened on."""
    import uvicorn

    from watchkeeper.cli import SETUP_FAILED
    from watchkeeper.cli.common import errors
    from watchkeeper.listen import CannotListen, bind, with_public_url
    from watchkeeper.web.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic says "setup plugin ..." for each of its plugins at every start;
    # the migrations it runs are still logged (alembic.runtime.migration).
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    ctx = context()
    try:
        listening = bind(host, port)
    except CannotListen as exc:
        raise fail(str(exc), SETUP_FAILED) from exc
    ctx.settings, warning = with_public_url(ctx.settings, host, port)
    if warning:
        errors.print(f"[yellow]warning:[/yellow] {warning}")
    upgrade(ctx.engine)
    live = _demo_feeds(ctx) if demo else None
    with ctx.transaction() as session:
        if not tokens.has_tokens(session=session):
            first = tokens.create_token(session=session, clock=ctx.clock, name="first token")
            console.print(f"no API token existed; created one (shown once): [bold]{first.token}[/bold]")
    scheduler = build_scheduler(ctx, inbox, live)
    stop = threading.Event()
    worker = threading.Thread(
        target=scheduler.run_forever, args=(stop, ctx.settings.scheduler_tick_seconds), name="scheduler", daemon=True
    )
    worker.start()
    try:
        app = create_app(settings=ctx.settings, clock=ctx.clock, engine=ctx.engine)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port)).run(sockets=[listening])
    finally:
        stop.set()
        worker.join(timeout=10)


def _demo_feeds(ctx: Context) -> Any:
    from watchkeeper.demo import DemoDatabaseMissing, LiveFeeds

    try:
        return LiveFeeds(ctx.sessions, ctx.settings, ctx.clock)
    except DemoDatabaseMissing as exc:
        raise fail(str(exc)) from exc


def build_scheduler(ctx: Context, inbox: Path | None, live: Callable[[], object] | None = None) -> Scheduler:
    return Scheduler(jobs(ctx, inbox, live), clock=ctx.clock, sessions=ctx.sessions)


def demo(
    days: Annotated[int, typer.Option(help="days of simulated history")] = 14,
    database: Annotated[Path, typer.Option(help="SQLite file for the demo (recreated)")] = Path("watchkeeper-demo.db"),
) -> None:
    """Simulate supplier feeds through the real API and files, then show what watchkeeper saw."""
    from watchkeeper.demo import run_demo

    run_demo(days=days, database=database)
