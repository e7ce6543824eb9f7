"""Status, kind, role and priority columns hold their enum's values only, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

import watchkeeper.models  # noqa: F401  (registers every table)
from watchkeeper.db import Base, Sealed, SealedList, UTCDateTime

from .conftest import NOW

VERSIONS = Path(watchkeeper.models.__file__).parent / "migrations" / "versions"
MIGRATIONS = [next(VERSIONS.glob(f"{revision}_*.py")) for revision in ("0018", "0019", "0022", "0025", "0031")]

ENUM_COLUMNS = sorted(
    (table.name, column.name)
    for table in Base.metadata.tables.values()
    for column in table.columns
    if isinstance(column.type, sa.Enum)
)


def _migration(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _enum(table: str, column: str) -> type[StrEnum]:
    enum: type[StrEnum] = Base.metadata.tables[table].c[column].type.enum_class  # type: ignore[attr-defined]
    return enum


def _value(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.Enum):
        return list(kind.enum_class)[-1]  # type: ignore[arg-type]
    if isinstance(kind, UTCDateTime):
        return NOW
    if isinstance(kind, SealedList | sa.JSON):
        return []
    if isinstance(kind, Sealed | sa.String):
        return "x"
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Float):
        return 0.0
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Date):
        return NOW.date()
    if isinstance(kind, sa.LargeBinary):
        return b""
    raise AssertionError(f"no sample value for {column}")


def _insert(connection: sa.Connection, table: sa.Table, made: dict[str, int] | None = None) -> int:
    """A row of `table` with every required column set, and one of each table it refers to; its id."""
    made = {} if made is None else made
    if table.name not in made:
        # The database's foreign keys, not only the models': a core table may name a higher
        # layer's row by id (customers.plan_id) without its model knowing that table.
        refers = {
            fk["constrained_columns"][0]: fk["referred_table"]
            for fk in sa.inspect(connection).get_foreign_keys(table.name)
            if len(fk["constrained_columns"]) == 1
        }
        values = {}
        for column in table.columns:
            if column.primary_key or column.nullable or column.default is not None or column.server_default is not None:
                continue
            parent = refers.get(column.name)
            values[column.name] = _insert(connection, Base.metadata.tables[parent], made) if parent else _value(column)
        made[table.name] = connection.execute(sa.insert(table).values(values).returning(table.c.id)).scalar_one()
    return made[table.name]


def test_every_enum_column_is_checked_by_the_migration_for_its_enum_values() -> None:
    checked = {
        (table, column): set(values)
        for path in MIGRATIONS
        for table, columns in _migration(path).CHECKED.items()
        for column, values in columns.items()
    }
    assert checked == {(table, column): {m.value for m in _enum(table, column)} for table, column in ENUM_COLUMNS}


@pytest.mark.parametrize(("table_name", "column_name"), ENUM_COLUMNS)
def test_a_value_outside_the_enum_is_refused_by_the_database(db, table_name, column_name) -> None:
    table = Base.metadata.tables[table_name]
    last = list(_enum(table_name, column_name))[-1]
    with db.engine.begin() as connection:
        row = _insert(connection, table)
        connection.execute(sa.update(table).where(table.c.id == row).values({column_name: last}))
        stored = connection.execute(sa.text(f"SELECT {column_name} FROM {table_name} WHERE id = {row}")).scalar()
    assert stored == last.value and last.name != last.value  # the value is stored, not the member's name

    with pytest.raises(IntegrityError, match=f"ck_{table_name}_{column_name}"), db.engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {table_name} SET {column_name} = 'zz' WHERE id = {row}"))
