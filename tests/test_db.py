"""SQLite set-up: what a new database is made with, and that an older one still opens."""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from watchkeeper.db import make_engine, upgrade


def _pragma(engine, name):
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_a_new_database_has_16_kb_pages_in_wal_mode(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(engine)
    assert (_pragma(engine, "page_size"), _pragma(engine, "journal_mode")) == (16384, "wal")
    engine.dispose()


def test_a_database_made_with_4_kb_pages_keeps_them_and_takes_writes(tmp_path):
    path = tmp_path / "older.db"
    older = sqlite3.connect(path)
    older.execute("PRAGMA page_size=4096")
    older.execute("PRAGMA journal_mode=WAL")
    older.close()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO feeds (name, created_at) VALUES ('supplier-a', '2026-11-28 00:00:00.000000')")
        )
    assert _pragma(engine, "page_size") == 4096
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM feeds")).scalars().all() == ["supplier-a"]
    engine.dispose()
