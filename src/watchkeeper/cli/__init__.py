"""The `watchkeeper` command: a root that loads each command's module only
when that command runs.

Loading every command's module would take most of a command's start, and
most of that is other domains' models and schemas: SQLAlchemy and pydantic
build each class as its module loads. `watchkeeper ingest` needs the feed
modules only. `--help` lists every command, and loads them all to describe
them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from watchkeeper import __version__

# name: "module:attribute", a command's function or a Typer app (a group of commands), in help order:
# commands first, then groups, as Typer lists them.
COMMANDS = {
    "ingest": "watchkeeper.cli.ingest:ingest",
    "replay": "watchkeeper.cli.replay:replay_command",
    "serve": "watchkeeper.cli.commands:serve",
    "demo": "watchkeeper.cli.commands:demo",
    "run": "watchkeeper.cli.checks:run_command",
    "db": "watchkeeper.cli.commands:db_app",
    "token": "watchkeeper.cli.commands:token_app",
    "services": "watchkeeper.cli.feeds:services_app",
    "feeds": "watchkeeper.cli.feeds:feeds_app",
    "files": "watchkeeper.cli.feeds:files_app",
    "alerts": "watchkeeper.cli.alerts:alerts_app",
    "incidents": "watchkeeper.cli.incidents:incidents_app",
    "silences": "watchkeeper.cli.alerts:silences_app",
    "maintenance": "watchkeeper.cli.alerts:maintenance_app",
    "dependencies": "watchkeeper.cli.alerts:dependencies_app",
    "integrations": "watchkeeper.cli.intake:integrations_app",
    "plans": "watchkeeper.cli.support:plans_app",
    "customers": "watchkeeper.cli.support:customers_app",
    "cases": "watchkeeper.cli.support:cases_app",
    "enquiries": "watchkeeper.cli.support:enquiries_app",
    "users": "watchkeeper.cli.users:users_app",
    "oncall": "watchkeeper.cli.oncall:oncall_app",
    "checks": "watchkeeper.cli.checks:checks_app",
    "pbx": "watchkeeper.cli.pbx:pbx_app",
}


def load(name: str) -> Any:
    """The click command `name` in COMMANDS, its module imported now."""
    module, _, attribute = COMMANDS[name].partition(":")
    found: typer.Typer | Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    if isinstance(found, typer.Typer):  # a group, even of one command
        command: Any = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


_loaded: dict[str, Any] = {}


def _command(name: str) -> Any:
    """The command `name`, loaded once per process."""
    if name not in _loaded:
        _loaded[name] = load(name)
    return _loaded[name]


def preload(args: list[str]) -> None:
    """Load the command that `args` name, if they name one, ahead of running
    it: watchkeeper.launch loads it with the cycle collector off."""
    if args and args[0] in COMMANDS:
        _command(args[0])


class _Commands(Mapping[str, Any]):
    """COMMANDS as the root group's command table, each loaded on first use."""

    def __getitem__(self, name: str) -> Any:
        if name not in COMMANDS:
            raise KeyError(name)
        return _command(name)

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    # Typer 0.29 prints a flag's type, "<bool>", after every plain flag (--json,
    # --help): a flag takes no value, so it has no type to show.
    return None if self.is_flag else _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


class _LazyGroup(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands()  # type: ignore[assignment]


app = typer.Typer(
    cls=_LazyGroup,
    help="watchkeeper: usage-feed monitoring and operations desk for billing and telecom operators.",
    no_args_is_help=True,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"watchkeeper {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    pass


def main() -> None:
    """The console script: run the command, then leave at once (see
    cli.common.leave). `--version` and `--help` load no command and exit as usual."""
    try:
        app()
        status: str | int | None = 0
    except SystemExit as done:
        status = done.code
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps what the driver raised
        if isinstance(cause, OverflowError):  # an id past 2^63, a duration past year 9999: what was typed
            print(f"error: a number or a duration given is out of range ({cause})", file=sys.stderr)
            status = 1
        else:
            message = plain_error(exc)
            if message is None:
                raise
            print(f"error: {message}", file=sys.stderr)
            status = SETUP_FAILED
    if "watchkeeper.cli.common" in sys.modules:
        from watchkeeper.cli.common import leave

        leave(status)
    sys.exit(status)


# The exit status of a command that could not run at all: apart from 1 and 2,
# which `ingest` gives rejected rows and refused files.
SETUP_FAILED = 3


def plain_error(exc: Exception) -> str | None:
    """One paragraph for an error of the setup rather than of watchkeeper: a
    setting that does not parse, a database that cannot be reached or a URL
    that names none. None for anything else, whose traceback is wanted."""
    import sqlalchemy.exc

    if type(exc).__name__ == "ValidationError" and getattr(exc, "title", None) == "Settings":
        problems = [
            f"WATCHKEEPER_{'_'.join(str(part) for part in e['loc']).upper()}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()  # type: ignore[attr-defined]
        ]
        return "bad setting: " + "; ".join(problems)
    from watchkeeper.db import SUPPORTED_URLS, UnsupportedDatabase

    if type(getattr(exc, "orig", None) or exc).__name__ == "KeyFileError":  # keys.py: the server's key file
        return str(getattr(exc, "orig", None) or exc)
    if type(exc).__name__ == "DatabaseMissing":  # cli.common's, not imported here for it
        return str(exc)

    if isinstance(exc, UnsupportedDatabase | sqlalchemy.exc.ArgumentError | sqlalchemy.exc.NoSuchModuleError):
        return (
            f"WATCHKEEPER_DATABASE_URL={_database_url()} is not a database URL watchkeeper can use: "
            f"give {SUPPORTED_URLS}"
        )
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        reason = " ".join(str(exc.orig if exc.orig is not None else exc).split())
        url = _database_url()
        if "locked" in reason:  # SQLite: another writer kept it past the busy timeout
            hint = "another process was writing to it for 30 s; try again"
        elif url.startswith("sqlite"):
            hint = "check that its folder exists and can be written"
        else:
            hint = "check that the server is running and WATCHKEEPER_DATABASE_URL names it"
        return f"the database at {url} failed: {reason} ({hint})"
    return None


def _database_url() -> str:
    """The database URL in use, its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        from watchkeeper.config import get_settings

        return make_url(get_settings().database_url).render_as_string(hide_password=True)
    except Exception:  # the setting itself is what is wrong
        import os

        return repr(os.environ.get("WATCHKEEPER_DATABASE_URL", "?"))
