from alembic import context
from sqlalchemy.engine import Connection

from watchkeeper import models  # noqa: F401  (registers every table)
from watchkeeper.db import Base

config = context.config
engine = config.attributes["engine"]


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    # SQLite alters most of a table by copying it to a new one and dropping
    # the old, and with foreign keys on, DROP TABLE first deletes its rows:
    # ON DELETE CASCADE would empty the tables that refer to it (feed_states
    # for services). The pragma is a no-op inside a transaction, so it is set
    # on the driver's connection before the migrations begin theirs.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(connection, False)
    try:
        with connection.begin():
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
            context.run_migrations()
            if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
                raise RuntimeError(f"the migrated database has rows whose foreign keys name nothing: {broken[:5]}")
    finally:
        if sqlite:
            _sqlite_foreign_keys(connection, True)
