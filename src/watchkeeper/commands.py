"""The commands that belong to no domain: db, token, serve and demo (see watchkeeper.cli)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from watchkeeper.alerts.service import RoutingConfig, process_due, record_all
from watchkeeper.auth import service as tokens
from watchkeeper.cli_common import Column, Context, console, context, fail, minute, print_json, show_list
from watchkeeper.db import current_revision, in_transaction, upgrade
from watchkeeper.errors import said
from watchkeeper.feeds.inbox import scan_inbox
from watchkeeper.feeds.service import apply_retention
from watchkeeper.feeds.watch import watch_feeds
from watchkeeper.notify.outbox import AppriseSender, deliver_due
from watchkeeper.scheduler import Job, Scheduler
from watchkeeper.support.incidents import raise_due
from watchkeeper.support.service import process_due as process_due_cases
from watchkeeper.wiring import on_delivery_outcome

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
    ctx = context()
    with ctx.transaction() as session:
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
    from watchkeeper.auth.users import get_user
    from watchkeeper.support.service import get_customer

    ctx = context()
    try:
        with ctx.transaction() as session:
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
    except (ValueError, LookupError) as exc:
        raise fail(said(exc)) from exc
    console.print(f"{new.record.role} token {new.record.id} ({new.record.name}), shown once, keep it safe:")
    typer.echo(new.token)


@token_app.command("list")
def token_list(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Every token: its role, whose it is, what it is limited to; never the secret."""
    ctx = context()
    with ctx.transaction() as session:
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
    ctx = context()
    try:
        with ctx.transaction() as session:
            tokens.revoke_token(session=session, clock=ctx.clock, token_id=token_id)
    except LookupError as exc:
        raise fail(str(exc)) from exc
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
    from watchkeeper.cli_common import errors
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
    scheduler = build_scheduler(ctx, inbox)
    if live is not None:  # first, so the feeds are topped up before the feed watcher looks at them
        scheduler.jobs.insert(0, Job("demo-feeds", timedelta(minutes=1), live))
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


def build_scheduler(ctx: Context, inbox: Path | None) -> Scheduler:
    def retention() -> None:
        with ctx.transaction() as session:
            apply_retention(session=session, clock=ctx.clock, settings=ctx.settings)

    routing = RoutingConfig.from_settings(ctx.settings)

    def file_alerts(session: Any, findings: list[Any]) -> None:
        # Duplicates, gaps and unreadable files, in the transaction of the file that raised them.
        record_all(findings, session=session, now=ctx.clock.now(), config=routing)

    def watch_inbox() -> None:
        scan_inbox(inbox, ctx.sessions, clock=ctx.clock, settings=ctx.settings, on_findings=file_alerts)  # type: ignore[arg-type]

    def feeds() -> None:
        # Claim in batches so one busy minute (a 10,000-service file) never holds the write lock long.
        while True:
            with ctx.transaction() as session:
                now = ctx.clock.now()
                report = watch_feeds(session=session, now=now, limit=200)
                record_all(report.findings, session=session, now=now, config=routing)
            if report.evaluated < 200:
                return

    def route() -> None:
        while True:
            due = in_transaction(
                ctx.sessions, lambda s: process_due(session=s, now=ctx.clock.now(), config=routing, limit=200)
            )
            if due < 200:
                return

    def cases() -> None:
        while in_transaction(ctx.sessions, lambda s: raise_due(session=s, now=ctx.clock.now())) >= 200:
            pass
        while in_transaction(ctx.sessions, lambda s: process_due_cases(session=s, now=ctx.clock.now())) >= 200:
            pass

    sender = AppriseSender()

    def notify() -> None:
        while deliver_due(ctx.sessions, sender=sender, now=ctx.clock.now, on_outcome=on_delivery_outcome) >= 20:
            pass

    tick = timedelta(seconds=ctx.settings.scheduler_tick_seconds)
    jobs = [
        Job("feeds", tick, feeds),
        Job("alerts", tick, route),
        Job("cases", tick, cases),
        Job("notify", tick, notify),
        Job("retention", timedelta(hours=1), retention),
    ]
    if inbox is not None:
        jobs.append(Job("inbox", timedelta(seconds=5), watch_inbox))
    return Scheduler(jobs, clock=ctx.clock)


def demo(
    days: Annotated[int, typer.Option(help="days of simulated history")] = 14,
    database: Annotated[Path, typer.Option(help="SQLite file for the demo (recreated)")] = Path("watchkeeper-demo.db"),
) -> None:
    """Simulate supplier feeds through the real API and files, then show what watchkeeper saw."""
    from watchkeeper.demo import run_demo

    run_demo(days=days, database=database)
