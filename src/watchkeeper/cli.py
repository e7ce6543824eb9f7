"""The `watchkeeper` command: a root that loads each command's module only
when that command runs.

Loading every command's module took 0.65-0.7 s of a command's start on a
slow day, and most of it was other domains' models and schemas: SQLAlchemy
and pydantic build each class as its module loads. `watchkeeper ingest`
needs the feed modules only, and loads about 0.09 s less. `--help` lists
every command, and loads them all to describe them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from watchkeeper import __version__

# name: "module:attribute", a command's function or a Typer app (a group of commands), in help order:
# commands first, then groups, as Typer lists them.
COMMANDS = {
    "ingest": "watchkeeper.feeds.ingest_cli:ingest",
    "replay": "watchkeeper.feeds.replay_cli:replay_command",
    "serve": "watchkeeper.commands:serve",
    "demo": "watchkeeper.commands:demo",
    "db": "watchkeeper.commands:db_app",
    "token": "watchkeeper.commands:token_app",
    "services": "watchkeeper.feeds.cli:services_app",
    "feeds": "watchkeeper.feeds.cli:feeds_app",
    "files": "watchkeeper.feeds.cli:files_app",
    "alerts": "watchkeeper.alerts.cli:alerts_app",
    "incidents": "watchkeeper.incidents.cli:incidents_app",
    "silences": "watchkeeper.alerts.cli:silences_app",
    "maintenance": "watchkeeper.alerts.cli:maintenance_app",
    "dependencies": "watchkeeper.alerts.cli:dependencies_app",
    "integrations": "watchkeeper.intake.cli:integrations_app",
    "plans": "watchkeeper.support.cli:plans_app",
    "customers": "watchkeeper.support.cli:customers_app",
    "cases": "watchkeeper.support.cli:cases_app",
    "enquiries": "watchkeeper.support.cli:enquiries_app",
    "users": "watchkeeper.auth.cli:users_app",
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
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit")] = False,  # fmt: skip
) -> None:
    pass


def main() -> None:
    """The console script: run the command, then leave at once (see
    cli_common.leave). `--version` and `--help` load no command and exit as usual."""
    try:
        app()
        status: str | int | None = 0
    except SystemExit as done:
        status = done.code
    if "watchkeeper.cli_common" in sys.modules:
        from watchkeeper.cli_common import leave

        leave(status)
    sys.exit(status)
