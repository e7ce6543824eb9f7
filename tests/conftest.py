"""Shared fixtures. Storage tests take `db` and run on SQLite and on PostgreSQL.

PostgreSQL is the machine's server (127.0.0.1:5432, database `test`, or
WATCHKEEPER_TEST_PG_URL); each test gets its own schema, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
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


def _sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'wk.db'}"


def _postgres() -> Iterator[str]:
    schema = f"wk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # pragma: no cover - environment problem, said plainly
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable ({exc}); start it or set WATCHKEEPER_TEST_PG_URL")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    urls = _sqlite(tmp_path) if request.param == "sqlite" else _postgres()
    url = next(urls)
    engine = make_engine(url, key_file=str(tmp_path / "watchkeeper.key"))
    upgrade(engine)
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
