"""Engine, sessions and migrations, for SQLite (WAL) and PostgreSQL alike."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Engine, Enum, Text, create_engine, event, inspect
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from watchkeeper.bus import BUS, MessageBus
from watchkeeper.errors import NotFound
from watchkeeper.keys import ServerKey

# The largest id a row can have (a signed 64-bit integer, on SQLite and PostgreSQL):
# an id past it names nothing, and is refused as such before any query.
MAX_ROW_ID = 2**63 - 1


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zone type and hands back naive values; storing naive UTC
    and re-attaching UTC on the way out keeps "UTC inside" true everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def server_key(bind: Engine | Connection | Session | Dialect) -> ServerKey:
    """The key of the server whose database this is (see keys.py), as make_engine attached it."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    dialect = bind if isinstance(bind, Dialect) else bind.dialect
    key: ServerKey | None = getattr(dialect, "watchkeeper_key", None)
    if key is None:
        raise RuntimeError("an engine made without make_engine has no server key")
    return key


class Sealed(TypeDecorator[str]):
    """Text encrypted at rest under the server's key (channel URLs with passwords, messages with live links)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else server_key(dialect).seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else server_key(dialect).unseal(value)


class SealedList(TypeDecorator[list[Any]]):
    """A JSON list of strings, each sealed as `Sealed` does."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> list[Any] | None:
        return None if value is None else [server_key(dialect).seal(str(v)) for v in value]

    def process_result_value(self, value: list[Any] | None, dialect: Dialect) -> list[Any] | None:
        return None if value is None else [server_key(dialect).unseal(str(v)) for v in value]


class Base(DeclarativeBase):
    pass


S = TypeVar("S", bound=StrEnum)


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def str_enum(enum: type[S], length: int) -> Enum:
    """A column of one of `enum`'s values, read back as its members.

    Stored as the values themselves (not the members' names), in a VARCHAR of
    `length`, so the rows hold the strings they always held. The database
    refuses any other value by a CHECK constraint of the migrations (the
    schema is made by them only, so SQLAlchemy is not asked to make it).
    """
    return Enum(
        enum,
        native_enum=False,
        values_callable=_values,
        validate_strings=True,
        length=length,
        create_constraint=False,
    )


M = TypeVar("M", bound=type)


def append_only(model: M) -> M:
    """Refuse updates and deletes of a table's rows (timelines, work logs): history is never rewritten."""

    def refuse(_mapper: Any, _connection: Any, target: Any) -> None:
        raise RuntimeError(f"{model.__tablename__} rows are append-only (row {target.id})")  # type: ignore[attr-defined]

    event.listen(model, "before_update", refuse)
    event.listen(model, "before_delete", refuse)
    return model


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the scheduler or an ingest writes; NORMAL
    # sync is durable across application crashes, which is what WAL is for.
    cursor = dbapi_connection.cursor()
    # Pages of 16 KB rather than 4: an ingest's upserts land between the rows
    # already stored for each service, and bigger pages split less often (one
    # hour's 185,000 minute upserts and commit take a fifth less). Fixed when a
    # new database's first page is written, so set before WAL; an existing
    # database keeps its page size.
    cursor.execute("PRAGMA page_size=16384")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Up to 64 MB of page cache (the default is 2 MB): a file of usage touches a page
    # per service in the minute counts, and with 2 MB evicted pages would be read again.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    # Transactions are begun by SQLAlchemy (see _sqlite_begin_immediate),
    # not implicitly by the driver.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with
    # SQLITE_BUSY when another writer got there first; taking the write lock
    # up front makes it wait its turn (busy_timeout) instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class _WriterQueue:
    """One SQLite writer at a time per process, queued in Python.

    Without it, threads that find the write lock taken sleep in SQLite's busy
    handler (1, 2, 5 ... 100 ms steps) and wake up late; with it they wait on
    a lock and start the moment the previous writer commits. Other processes
    still meet busy_timeout as before.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: set[int] = set()

    def begin(self, connection: Any) -> None:
        if self._lock.acquire(timeout=30):
            self._holders.add(id(connection))
        _sqlite_begin_immediate(connection)

    def end(self, connection: Any) -> None:
        if id(connection) in self._holders:
            self._holders.discard(id(connection))
            self._lock.release()


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def make_engine(url: str, *, secret_key: str | None = None, key_file: str | None = None, **kwargs: Any) -> Engine:
    """An engine that carries the server's key (keys.ServerKey), so what it seals it can read back."""
    engine = _make_engine(url, **kwargs)
    key = ServerKey.of(database_url=url, secret_key=secret_key, key_file=key_file)
    engine.dialect.watchkeeper_key = key  # type: ignore[attr-defined]
    _engines.add(engine)
    return engine


def dispose_engines() -> None:
    """Close the connections of every engine still in use, as the end of a
    process would: SQLite then checkpoints and removes its WAL. For a process
    that leaves without Python's teardown (cli.common.leave)."""
    for engine in list(_engines):
        engine.dispose()


def make_reader(engine: Engine) -> Engine:
    """An engine of its own for a small, frequent read that must not queue behind writers (the desk's
    live poller): on SQLite without the writer queue, whose reads WAL never blocks (the driver begins
    nothing before a SELECT); on PostgreSQL with one connection of its own, not one of the pool's."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        reader = create_engine(url)
        event.listen(reader, "connect", lambda connection, _record: connection.execute("PRAGMA busy_timeout=30000"))
        return reader
    return create_engine(url, pool_size=1, max_overflow=0, pool_recycle=3600)


class UnsupportedDatabase(Exception):
    """A database URL that names no database watchkeeper can use (not a ValueError:
    commands answer those as a user's input, and this is the setup's)."""


SUPPORTED_URLS = (
    "sqlite:///PATH or postgresql+psycopg://user@host/db "
    "(postgres:// and postgresql:// are read as postgresql+psycopg://)"
)


def supported_url(url: str) -> str:
    """`url` as watchkeeper connects with it: SQLite, or PostgreSQL through psycopg 3."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme in ("postgres", "postgresql"):  # Heroku's and libpq's spellings
        return "postgresql+psycopg://" + rest
    if sep and scheme in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        return url
    raise UnsupportedDatabase(f"give {SUPPORTED_URLS}")


def _make_engine(url: str, **kwargs: Any) -> Engine:
    url = supported_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        writers = _WriterQueue()
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", writers.begin)
        event.listen(engine, "commit", writers.end)
        event.listen(engine, "rollback", writers.end)
        return engine
    # Ten connections kept open (SQLAlchemy keeps five): a server's requests in
    # flight and its scheduler each hold one, and a connection past those the pool
    # keeps is opened for one unit of work and closed after it, which costs more
    # than a heartbeat's whole statement. No ping before each checkout (a round
    # trip per unit of work): a connection found dead is replaced and the work run
    # again (in_transaction), and none is kept past an hour.
    return create_engine(url, **({"pool_size": 10, "pool_recycle": 3600} | kwargs))


def make_sessionmaker(engine: Engine, *, bus: MessageBus | None = None) -> sessionmaker[Session]:
    """Sessions on `engine`; each carries `bus`, which handles the domain events published on it (see bus.py)."""
    return sessionmaker(engine, expire_on_commit=False, info={} if bus is None else {BUS: bus})


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


T = TypeVar("T")
R = TypeVar("R")
# Unique violation, serialization failure, deadlock: another process got there
# first, and doing the work again sees what it wrote.
_RACES = {"23505", "40001", "40P01"}


def get_existing(session: Session, model: type[R], key: int, *, missing: str, lock: bool = False) -> R:
    """The row of `model` with primary key `key` (locked for this transaction
    with `lock`, on PostgreSQL); `missing`, a NotFound saying where to look, if none."""
    row = session.get(model, key, with_for_update=lock)
    if row is None:
        raise NotFound(missing)
    return row


def in_transaction(factory: sessionmaker[Session], work: Callable[[Session], T], *, attempts: int = 4) -> T:
    """Run `work` in a transaction, again from the start if it lost a race with another writer,
    or if its connection was found dead before the commit (a database restarted since the
    connection was opened: nothing of the work was stored). A connection lost during the
    commit is not retried, since the commit may have been made."""
    for attempt in range(attempts):
        committing = False
        session = factory()
        try:
            result = work(session)
            committing = True
            session.commit()
            return result
        except DBAPIError as exc:
            session.rollback()
            race = isinstance(exc, IntegrityError) or getattr(exc.orig, "sqlstate", None) in _RACES
            dead = exc.connection_invalidated and not committing
            if not (race or dead) or attempt == attempts - 1:
                raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    raise AssertionError("unreachable")


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The applied migration, or None for a database never set up.

    Read with one query rather than through Alembic, whose import every CLI
    command would pay for.
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
