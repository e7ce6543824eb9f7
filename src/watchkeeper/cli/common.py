"""What every CLI command shares: the database, the clock, and output."""

from __future__ import annotations

import atexit
import getpass
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.clock import Clock, SystemClock
from watchkeeper.config import Settings, get_settings
from watchkeeper.db import current_revision, dispose_engines, make_engine, transaction, upgrade
from watchkeeper.errors import said
from watchkeeper.finding import Urgency

if TYPE_CHECKING:
    from rich.console import Console

    console: Console  # standard output
    errors: Console  # standard error


def __getattr__(name: str) -> Any:
    """`console` and `errors`, made when a command first imports them.

    Loading rich's console takes 0.02-0.03 s of a start; `ingest` imports
    them only to print, so `ingest --quiet` and `--json` runs never load it.
    """
    if name not in ("console", "errors"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _output(name)


def _output(name: str) -> Console:
    """The console `name`, made on first use."""
    if name not in globals():
        from rich.console import Console

        globals()[name] = Console(stderr=name == "errors")
    return globals()[name]  # type: ignore[no-any-return]


class DatabaseMissing(Exception):
    """A command that only reads found no database, or one never set up: the setup's error, said in one line."""


@dataclass
class Context:
    settings: Settings
    clock: Clock

    @cached_property
    def engine(self) -> Engine:
        s = self.settings
        return make_engine(s.database_url, secret_key=s.secret_key, key_file=s.key_file)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from sqlalchemy.engine import make_url

        reading = reads_only()
        if reading and (missing := _missing_file(self.settings.database_url)) is not None:
            configured = make_url(self.settings.database_url).render_as_string(hide_password=True)
            raise DatabaseMissing(
                f"no database at {missing} (WATCHKEEPER_DATABASE_URL={configured}); "
                "a command that only reads creates none: run it where `serve` runs, or set "
                "WATCHKEEPER_DATABASE_URL to serve's database"
            )
        engine = self.engine
        if current_revision(engine) is None:
            if reading:
                raise DatabaseMissing(
                    f"the database at {database_shown(self.settings)} is empty (never set up): "
                    "nothing to show; is WATCHKEEPER_DATABASE_URL the one `serve` uses?"
                )
            # A first command on a new database sets it up rather than failing.
            upgrade(engine)
        from watchkeeper.wiring import sessionmaker as wired  # the CLI's own layer; loaded by commands that store

        return wired(engine, self.settings)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session


# The options many commands share, said alike in each one's --help.
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]
By = Annotated[str | None, typer.Option("--by", help="who (default: $USER)")]
OnlyService = Annotated[str | None, typer.Option(help="only this service")]
OnlyUrgency = Annotated[Urgency | None, typer.Option(help="high or low")]


def context() -> Context:
    settings = get_settings()
    _warn_unknown_variables()
    return Context(settings=settings, clock=SystemClock())


# Commands that only read: run on a database that is missing or empty, they
# say so rather than create one (a command run in the wrong folder would
# otherwise make an empty watchkeeper.db there and say "no services yet").
READING = frozenset({"list", "show", "findings", "stats"})


def reads_only() -> bool:
    """Whether the command running is one of READING."""
    # Typer carries its own copy of click, whose current context this is (click's own stays empty).
    from typer._click.globals import get_current_context

    current = get_current_context(silent=True)
    return current is not None and current.info_name in READING


def _missing_file(url: str) -> Path | None:
    """The SQLite file `url` names, if it names one that does not exist."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).absolute()
    return None if path.exists() else path


def database_shown(settings: Settings) -> str:
    """The database in use, as a person can find it: a SQLite file's whole path, a password hidden."""
    from sqlalchemy.engine import make_url

    parsed = make_url(settings.database_url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        return f"sqlite:///{Path(parsed.database).absolute()}"
    return parsed.render_as_string(hide_password=True)


_warned: list[str] = []


def _warn_unknown_variables() -> None:
    from watchkeeper.config import unknown_variables

    for warning in unknown_variables(os.environ):
        if warning not in _warned:
            _warned.append(warning)
            _output("errors").print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def leave(status: object) -> NoReturn:
    """End the process once a command is done, without Python's teardown.

    At exit, Python frees every module and object one at a time: 0.12 s for
    SQLAlchemy alone, 0.2-0.25 s after a 1M-row ingest, longer than the
    command's own checks. Everything a normal exit does that matters is done
    here first: other threads are joined, atexit handlers run (logging is
    flushed), databases are closed (SQLite checkpoints its WAL) and
    stdout/stderr are flushed. Only the freeing is left to the kernel.
    """
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:  # as sys.exit("message") does
        print(status, file=sys.stderr)
        code = 1
    # As Python's own exit does: thread pools are told to stop (an idle
    # worker would otherwise wait for work forever), other threads are joined.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    dispose_engines()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, as `| head` does
            code = code or 1
    os._exit(code)


@contextmanager
def _transaction(refused: tuple[type[Exception], ...]) -> Iterator[tuple[Context, Session]]:
    ctx = context()
    try:
        with ctx.transaction() as session:
            yield ctx, session
    except refused as exc:
        raise fail(said(exc)) from exc


def reading() -> AbstractContextManager[tuple[Context, Session]]:
    """One transaction of a command that reads: a thing that is missing
    (LookupError) ends the command with its message."""
    return _transaction((LookupError,))


def storing() -> AbstractContextManager[tuple[Context, Session]]:
    """One transaction of a command that changes something. Input the rules
    refuse (ValueError) or a thing that is missing (LookupError) ends the
    command with its message and nothing stored."""
    return _transaction((ValueError, LookupError))


def act(action: Callable[[Session, datetime], object], message: str) -> None:
    """Do `action(session, now)` in one transaction; say `message`, or what was wrong."""
    with storing() as (ctx, session):
        action(session, ctx.clock.now())
    _output("console").print(message)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, default=_default, indent=2))


def fail(message: str, code: int = 1) -> typer.Exit:
    _output("errors").print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def minute(value: datetime | None) -> str:
    """A time in a list, whose column header says UTC: to the minute."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Column:
    """A column of a list: `keep` orders which go first on a narrow screen
    (lowest first; 9 is never dropped); a `wide` column (a summary, a title)
    wraps into the width the others leave, the others never wrap."""

    name: str
    keep: int = 9
    wide: bool = False


WIDE_MIN = 24  # a wide column narrower than this is unreadable: drop others first


def show_list(columns: list[Column], rows: list[list[str]], *, empty: str) -> None:
    """Print rows as a table that stays readable at 80 columns (a pipe, a
    small terminal): rather than squeeze every column to a few letters, the
    least needed columns are left out, and a line says which (`--json` has
    everything)."""
    if not rows:
        # Say which database was read: an empty list from the wrong one looks like a right answer.
        _output("console").print(
            f"{empty} (database {database_shown(get_settings())})" if reads_only() else empty, highlight=False
        )
        return
    from rich.table import Table
    from rich.text import Text

    console = _output("console")
    # Each column's widest line, header included: what it needs not to wrap.
    natural = [
        max(
            Text.from_markup(line).cell_len for row in [[c.name for c in columns], *rows] for line in row[i].split("\n")
        )
        for i in range(len(columns))
    ]

    def needed(shown: list[int]) -> int:
        return sum(WIDE_MIN if columns[i].wide else natural[i] for i in shown) + 3 * len(shown) + 1

    shown = list(range(len(columns)))
    for i in sorted(shown, key=lambda i: columns[i].keep):
        if needed(shown) <= console.width or columns[i].keep >= 9:
            break
        shown.remove(i)
    table = Table()
    for i in shown:
        if columns[i].wide:
            table.add_column(columns[i].name, ratio=1, min_width=WIDE_MIN, overflow="fold")
        else:
            table.add_column(columns[i].name, no_wrap=True)
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    console.print(table)
    left_out = [columns[i].name for i in range(len(columns)) if i not in shown]
    if left_out:
        console.print(f"[dim]not shown at {console.width} columns: {', '.join(left_out)} (--json has all)[/dim]")


def show_table(headers: Sequence[str], lines: Iterable[Sequence[str]], *, empty: str) -> None:
    """Print a short list (silences, plans, keys) as a table, or `empty` when it has no line."""
    from rich.table import Table

    table = Table(*headers)
    for line in lines:
        table.add_row(*line)
    _output("console").print(table if table.rows else empty)


def fields(record: object, names: Sequence[str]) -> dict[str, Any]:
    """The attributes `names` of a stored record, by name, in that order: a line of a list, as `--json` prints it."""
    return {name: getattr(record, name) for name in names}


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '2h', '1d', '1h30m'."""
    total, number = 0, ""
    for char in text.strip().lower():
        if char.isdigit():
            number += char
        elif char in _UNITS and number:
            total, number = total + int(number) * _UNITS[char], ""
        else:
            raise typer.BadParameter(f"{text!r} is not a duration like 30m, 2h, 1d or 1h30m")
    if number or not total:
        raise typer.BadParameter(f"{text!r} is not a duration like 30m, 2h, 1d or 1h30m")
    return timedelta(seconds=total)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with a time zone ('2026-11-23T22:00:00Z', '2026-11-23T23:00+01:00')."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 instant like 2026-11-23T22:00:00Z") from exc
    if value.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a time zone (Z or +01:00)")
    return value


def operator() -> str:
    """Who is at the keyboard, for timelines and silences (override with --by)."""
    return os.environ.get("WATCHKEEPER_USER") or os.environ.get("USER") or getpass.getuser()
