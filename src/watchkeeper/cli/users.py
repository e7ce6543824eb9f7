"""`watchkeeper users`: people, their roles and the channels they are told on."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from watchkeeper.auth import users
from watchkeeper.auth.principal import Role
from watchkeeper.cli.common import act, console, fail, print_json, reading
from watchkeeper.words import count

users_app = typer.Typer(help="People: the operator's staff and customers' own, with their notification channels.")
Channels = Annotated[
    list[str] | None, typer.Option("--channel", help="Apprise URL, e.g. mailto://anna@example.com (repeat)")
]  # noqa: E501


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[Role, typer.Option(help="admin or engineer (the operator's staff), customer (their own view)")],
    customer: Annotated[str | None, typer.Option(help="for a customer user: whose")] = None,
    channel: Channels = None,
) -> None:
    """Add a person; `watchkeeper token create --user NAME` then gives them a token with their role."""
    from watchkeeper.auth.customers import get_customer

    def add(session: Session, now: datetime) -> None:
        customer_id = get_customer(customer, session=session).id if customer else None
        users.add_user(session=session, now=now, name=name, role=role, customer_id=customer_id, channels=channel or [])

    act(
        add,
        f"{role} {name}"
        + (f" of {customer}" if customer else "")
        + (f", told on {count(len(channel), 'channel')}" if channel else ", no channel yet"),
    )


@users_app.command("channels")
def users_channels(name: str, channel: Channels = None) -> None:
    """Replace a user's channels (none given: they are told nothing)."""
    act(
        lambda session, _: users.set_channels(name, channel or [], session=session),
        f"{name}: {count(len(channel or []), 'channel')}",
    )


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every user with their role, customer and how many channels they are told on."""
    with reading() as (_, session):
        rows = [users.user_view(u, session=session) for u in users.list_users(session=session)]
    if as_json:
        print_json(rows)
        return
    table = Table("user", "role", "customer", "channels")
    for r in rows:
        table.add_row(r["name"], r["role"], r["customer"] or "-", str(len(r["channels"])))
    console.print(table if rows else "no users; `watchkeeper users add NAME --role engineer --channel mailto://...`")


@users_app.command("password")
def users_password(
    name: str,
    stdin: Annotated[bool, typer.Option("--stdin", help="read the password from standard input (one line)")] = False,
) -> None:
    """Set a person's password for the web desk (asked twice, not echoed); their other sessions end."""
    import sys

    from watchkeeper.auth import signin

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        signin.hash_password(password)
    except signin.BadPassword as exc:
        raise fail(str(exc)) from exc

    def change(session: Session, now: datetime) -> None:
        user = users.get_user(name, session=session)
        signin.set_password(user, password)
        signin.end_sessions_of(user, session=session, now=now)

    act(change, f"{name}'s password is set; sign in at /signin")
