from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, LargeBinary, String, func, select
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, mapped_column, relationship

# Imported, not only named: the ORM resolves Service.customer when a session
# first runs, and a command that loads only the feed modules (watchkeeper
# ingest) must find Customer registered by then.
from watchkeeper.auth.customers import Customer
from watchkeeper.db import Base, UTCDateTime, str_enum


class ServiceStage(StrEnum):
    NEW = "new"
    TEST = "test"
    PRODUCTION = "production"
    RETIRED = "retired"


class FileFindingKind(StrEnum):
    DUPLICATE_FILE = "duplicate_file"
    SEQUENCE_GAP = "sequence_gap"
    SEQUENCE_REUSED = "sequence_reused"
    UNREADABLE_FILE = "unreadable_file"
    # A note, not an alert: a file that began with one counted before, of
    # which only what was appended is counted (see feeds.append).
    APPENDED_FILE = "appended_file"


class FileStatus(StrEnum):
    INGESTED = "ingested"
    QUARANTINED = "quarantined"


class Service(Base):
    """A supplier service, discovered on its first usage record or added before it
    (`services add`): then its first and last record are null until it sends."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    stage: Mapped[ServiceStage] = mapped_column(str_enum(ServiceStage, 16), default=ServiceStage.NEW)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_quantity: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    customer: Mapped[Customer | None] = relationship(lazy="joined")


# Count tables are clustered by time first, then service: (hour, service_id,
# minute) and (day, service_id, hour). An hour's file then appends to the end
# of the minute table, and retention cuts its head off, whatever the history
# holds. Keyed by service first, each hourly file would touch a page per
# service in the middle of the table: on 14 days of minutes (60 M rows for
# 10,000 services) that upsert takes 1.8 s on SQLite against 0.1 s. One
# service's counts are read with one index seek per hour (or day), `buckets`.
#
# Their service_id carries no foreign key. Every id is read from `services` in
# the writing transaction, and services are retired, never deleted. PostgreSQL
# checks a foreign key with one query per inserted row: 40 % of the minute
# upsert's time.
MINUTES_PER_HOUR = 60
HOURS_PER_DAY = 24


def buckets(low: int, high: int) -> list[int]:
    """The buckets (hours or days) from `low` to `high`, both included, for an
    `IN` on the leading key column: one seek each, where a range on it would
    scan every service's rows in between."""
    return list(range(low, high + 1))


def stored_span(session: Session, bucket: InstrumentedAttribute[int]) -> tuple[int, int] | None:
    """The oldest and newest bucket a count table holds (two index look-ups),
    None while it is empty. A range asked for may reach back years; only the
    buckets in between are worth a seek."""
    oldest, newest = session.execute(
        select(select(func.min(bucket)).scalar_subquery(), select(func.max(bucket)).scalar_subquery())
    ).one()
    return None if oldest is None else (int(oldest), int(newest))


class MinuteCount(Base):
    """Records per service per UTC minute; `minute` counts minutes since the Unix epoch
    and `hour`, minute // 60, leads the key (see above).

    Integers rather than timestamps keep the hot upsert cheap and the key
    identical on SQLite and PostgreSQL.
    """

    __tablename__ = "minute_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[float] = mapped_column(Float)


class HourCount(Base):
    """Records per service per UTC hour (hours since the Unix epoch), kept 13 months;
    `day`, hour // 24, leads the key (see above)."""

    __tablename__ = "hour_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[float] = mapped_column(Float)


class UsageBatch(Base):
    """An API batch sent with an Idempotency-Key, and the answer it got."""

    __tablename__ = "usage_batches"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Feed(Base):
    """How files from one supplier are read and checked."""

    __tablename__ = "feeds"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    format: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str | None] = mapped_column(String(64))
    service_column: Mapped[str | None] = mapped_column(String(32))
    sequence_pattern: Mapped[str | None] = mapped_column(String(200))
    # Its files grow (Asterisk's Master.csv): each is followed by name (feeds.append).
    append: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


FILE_COUNTED = "accepted + rejected > 0"


class IngestedFile(Base):
    __tablename__ = "ingested_files"
    # The content hash refuses a file counted before. A file without rows (a
    # header-only file for a quiet hour) has nothing to count twice, and the
    # next quiet hour's file has the same bytes: the hash is unique only
    # among files with rows, by the partial unique index
    # uq_ingested_files_content_hash WHERE FILE_COUNTED (migrations 0012, 0013).
    # It is not declared here too: the sqlite_where and postgresql_where
    # arguments it needs load both dialects' modules into every command, 0.02 s
    # of `watchkeeper ingest` on SQLite. The schema is made by the migrations only
    # (`alembic revision --autogenerate` will offer to drop this index: keep it).

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(500))
    # "blake3:<64 hex digits>"; files recorded before migration 0013 keep
    # their "sha256:<hex>" (see feeds.ingest._counted_before).
    content_hash: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(32))
    status: Mapped[FileStatus] = mapped_column(str_enum(FileStatus, 16), default=FileStatus.INGESTED)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The BLAKE3 hash of its first lines (feeds.append.head_hashes): a later
    # file with the same head may be this one grown. Indexed (0016).
    head_hash: Mapped[str | None] = mapped_column(String(80))
    # Where its counting began: 0, or the end of the earlier file it grew from.
    counted_from: Mapped[int] = mapped_column(BigInteger, default=0)
    # A hash of the path, device, inode and modification time it was read
    # from: the same file, met again after a crash, is no duplicate.
    origin: Mapped[str | None] = mapped_column(String(80))


class FileFinding(Base):
    """A revenue-assurance file control that failed: duplicate, gap, reused number."""

    __tablename__ = "file_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed: Mapped[str] = mapped_column(String(100), index=True)
    file_name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[FileFindingKind] = mapped_column(str_enum(FileFindingKind, 32))
    detail: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # When the alert it raised resolved; None while it is open (feeds.filecontrol).
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_missing: Mapped[int | None] = mapped_column(BigInteger)  # the numbers a sequence gap misses
    last_missing: Mapped[int | None] = mapped_column(BigInteger)


class FeedState(Base):
    """A service's learned model and the next time it needs looking at.

    `due_at` is the silence deadline, or "now" after an ingest touched the
    service; the scheduler claims due rows, so its work is O(due), not O(all).
    """

    __tablename__ = "feed_states"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[bytes | None] = mapped_column(LargeBinary)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Recent silences and drops that resolved with records missing (feeds.watch.Outage as dicts):
    # records that come late for their minutes are set against them.
    outages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
