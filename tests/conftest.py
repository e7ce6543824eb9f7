"""Shared fixtures. Storage tests take `db` and run on SQLite and on PostgreSQL.

PostgreSQL is the machine's server (127.0.0.1:5432, database `test`, or
WATCHKEEPER_TEST_PG_URL); each test gets its own schema, dropped after.

Each test's database starts as the migrations leave a new one. Running the
migrations takes about a second, and a thousand tests take a database, so
they run once per test process, into a template: a SQLite test gets a copy of
the template file, a PostgreSQL test a schema made from the template schema's
dump. tests/test_migrations.py runs the migrations themselves.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import Result

from watchkeeper.clock import FrozenClock
from watchkeeper.config import Settings
from watchkeeper.db import make_engine, upgrade
from watchkeeper.wiring import sessionmaker as wired_sessions

PG_URL = os.environ.get("WATCHKEEPER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Db:
    kind: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    settings: Settings


def _schema_url(schema: str) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file the migrations have set up, for every SQLite test to copy."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "wk.db"
    engine = make_engine(f"sqlite:///{path}", key_file=str(folder / "watchkeeper.key"))
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str] | None]:
    """The template schema's name and its dump (DDL and rows), or None where pg_dump is missing."""
    schema = f"wk_tmpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # pragma: no cover - environment problem, said plainly
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable ({exc}); start it or set WATCHKEEPER_TEST_PG_URL")
    try:
        folder = tmp_path_factory.mktemp("pg-template")
        engine = make_engine(_schema_url(schema), key_file=str(folder / "watchkeeper.key"))
        upgrade(engine)
        engine.dispose()
        yield (schema, _dump(schema)) if shutil.which("pg_dump") else None
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _dump(schema: str) -> str:
    url = make_url(PG_URL)
    command = ["pg_dump", "--schema", schema, "--inserts", "--no-owner", "--no-privileges", "--no-comments"]
    command += ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    dumped = subprocess.run([*command, url.database or "test"], check=True, capture_output=True, text=True).stdout
    # The dump sets an empty search_path and creates the schema (the test makes its own and keeps its
    # path); psql meta-commands (`\restrict`) are for psql only.
    lines = [
        line for line in dumped.splitlines() if not line.startswith(("SET ", "SELECT pg_catalog.set_config", "\\"))
    ]
    return "\n".join(lines).replace(f"CREATE SCHEMA {schema};", "")


def _sqlite(tmp_path: Path, template: Path) -> Iterator[str]:
    path = tmp_path / "wk.db"
    with sqlite3.connect(template) as source, sqlite3.connect(path) as copy:
        source.backup(copy)
    yield f"sqlite:///{path}"


def _postgres(template: tuple[str, str] | None) -> Iterator[str]:
    schema = f"wk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
        if template is not None:
            name, dumped = template
            connection.exec_driver_sql(dumped.replace(name, schema))
    try:
        yield _schema_url(schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        urls = _sqlite(tmp_path, request.getfixturevalue("_sqlite_template"))
    else:
        urls = _postgres(request.getfixturevalue("_postgres_template"))
    url = next(urls)
    engine = make_engine(url, key_file=str(tmp_path / "watchkeeper.key"))
    upgrade(engine)  # at head already: this only checks it, as a server's start does
    try:
        settings = Settings(database_url=url)
        yield Db(request.param, url, engine, wired_sessions(engine, settings), settings)
    finally:
        engine.dispose()
        next(urls, None)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """The `watchkeeper` command on a SQLite file of the test's own."""
    from typer.testing import CliRunner

    from watchkeeper.cli import app
    from watchkeeper.config import get_settings

    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    yield invoke
    get_settings.cache_clear()
