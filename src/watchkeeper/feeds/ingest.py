"""Usage ingest use cases: API batches and files. Callers own the transaction."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
from sqlalchemy import bindparam, delete, exists, func, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from watchkeeper import metrics
from watchkeeper.clock import Clock, known_zone
from watchkeeper.config import Settings
from watchkeeper.errors import Forbidden, Invalid
from watchkeeper.feeds import append, controls, filecontrol
from watchkeeper.feeds.arrival import Arrival
from watchkeeper.feeds.errors import UnreadableFile
from watchkeeper.feeds.fold import fold_partial
from watchkeeper.feeds.models import FILE_COUNTED, Feed, FileFinding, FileFindingKind, IngestedFile, UsageBatch
from watchkeeper.feeds.parse import (
    MAX_REPORTED_ERRORS,
    SAMPLE_BYTES,
    AsteriskOptions,
    Chunk,
    Columns,
    Format,
    RowError,
    convert_usage,
    detect_format,
    read_asterisk_csv,
    read_usage_csv,
)
from watchkeeper.feeds.store import UsageWriter
from watchkeeper.inputs import is_unicode

if TYPE_CHECKING:  # the shared core shape; loaded only where a file raises an alert (feeds.controls)
    from watchkeeper.finding import Finding

Progress = Callable[[int], None]

log = logging.getLogger(__name__)


class BadBatch(ValueError):
    """The request body as a whole cannot be read."""


class UnsupportedType(BadBatch):
    """The body is in a format no reader here takes."""


class IdempotencyConflict(Invalid):
    """An Idempotency-Key came back with a different body."""


class ServicesRefused(Forbidden):
    """A batch names services its sender may not post usage for; nothing of it is stored."""


@dataclass
class IngestReport:
    source: str
    format: str
    status: str = "ingested"  # ingested | unchanged | duplicate | unreadable
    message: str | None = None  # why a file was refused
    rows: int = 0
    rejected: int = 0
    records: int = 0
    services: int = 0
    new_services: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    note: str | None = None  # what else to know: counted from line N of an appended file, rotated, unchanged
    # The alerts this ingest raises or resolves (feeds.controls), for the
    # caller to record in the ingest's transaction (`on_findings`).
    alerts: list[Finding] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.rows - self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "status": self.status,
            "message": self.message,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "records": self.records,
            "services": self.services,
            "new_services": self.new_services,
            "errors": [e.as_dict() for e in self.errors],
            "errors_truncated": self.rejected > len(self.errors),
            "findings": self.findings,
            "note": self.note,
        }


def _limits(now: datetime, settings: Settings) -> tuple[int, int, int]:
    epoch = int(now.timestamp())
    not_after = epoch + settings.max_future_skew_minutes * 60
    minute_floor = (epoch - settings.minute_retention_days * 86400) // 60
    hour_floor = (epoch - settings.hour_retention_days * 86400) // 3600
    return not_after, minute_floor, hour_floor


def store_chunks(
    chunks: Iterable[Chunk],
    report: IngestReport,
    *,
    session: Session,
    clock: Clock,
    settings: Settings,
    on_progress: Progress | None = None,
) -> IngestReport:
    """Write every chunk as it comes: one additive upsert per service per minute."""
    now = clock.now()
    _, minute_floor, hour_floor = _limits(now, settings)
    writer = UsageWriter(session, now=now, minute_floor=minute_floor, hour_floor=hour_floor)
    for chunk in chunks:
        report.rows += chunk.rows
        report.rejected += chunk.rejected
        room = MAX_REPORTED_ERRORS - len(report.errors)
        report.errors.extend(chunk.errors[:room])
        writer.add(chunk.partial if chunk.partial is not None else fold_partial(chunk.records))
        if on_progress is not None:
            on_progress(chunk.bytes_read)
    writer.finish()
    report.new_services = writer.new_services
    report.records = writer.records
    report.services = writer.services
    return report


# -- API batches -------------------------------------------------------------------


_JSON_FIELDS = {
    "timestamp": ("ts", "timestamp"),
    "service": ("service",),
    "count": ("count",),
    "quantity": ("quantity",),
}


def _json_columns(body: bytes) -> tuple[Columns, list[RowError]]:
    """The records of a JSON body as text columns, and the rows that are no
    record at all (not an object, or text that is not Unicode), already refused."""
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a number of thousands of digits
        raise BadBatch(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadBatch("body is not a batch of records: JSON nested thousands deep") from exc
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list):
        raise BadBatch('body must be a JSON array of records: [{"service": ..., "ts": ...}]')
    values: dict[str, list[str]] = {name: [] for name in _JSON_FIELDS}
    kept: list[int] = []
    refused: list[RowError] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            refused.append(RowError(index, "row", f"not a JSON object: {_text(item)[:80]}"))
            continue
        row = {name: _text(next((item[k] for k in keys if k in item), None)) for name, keys in _JSON_FIELDS.items()}
        bad = next((name for name, text in row.items() if not is_unicode(text)), None)
        if bad is not None:
            refused.append(RowError(index, bad, "not valid Unicode (a lone surrogate escape such as \\ud800)"))
            continue
        for name, text in row.items():
            values[name].append(text)
        kept.append(index)
    columns = Columns({k: pa.array(v, pa.string()) for k, v in values.items()}, np.array(kept, np.int64), None)
    return columns, refused


def _text(value: object) -> str:
    # Booleans and nested values are not numbers or names: give the checks a
    # value they will reject and quote back to the sender.
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))  # JSON has one kind of number: 1e3 is the count 1000
    return str(value)


CSV_TYPES = {"text/csv", "application/csv"}
# JSON, and what clients send JSON as unless told otherwise (curl -d: a form).
JSON_TYPES = {"", "application/json", "text/json", "text/plain", "application/x-www-form-urlencoded"}


def parse_batch(body: bytes, content_type: str, *, not_after: int) -> tuple[str, Iterator[Chunk]]:
    kind = content_type.split(";")[0].strip().lower()
    if kind in CSV_TYPES:
        return Format.USAGE_CSV, _as_bad_batch(read_usage_csv(body, not_after=not_after))
    if kind not in JSON_TYPES and not kind.endswith("+json"):
        raise UnsupportedType(f"Content-Type {kind!r} is not read here: send application/json or text/csv")
    columns, refused = _json_columns(body)
    chunk = convert_usage(columns, not_after=not_after)
    if refused:
        chunk.rows += len(refused)
        chunk.rejected += len(refused)
        chunk.errors = sorted(chunk.errors + refused, key=lambda e: e.index)[:MAX_REPORTED_ERRORS]
    return "json", iter([chunk])


def _as_bad_batch(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The chunks of a CSV body, which finds out that it cannot be read (no
    header, binary data) only once it is read: that is a bad batch (400),
    and the caller rolls back whatever was written."""
    try:
        yield from chunks
    except UnreadableFile as exc:
        raise BadBatch(f"text/csv body: {exc}") from exc


def ingest_batch(
    body: bytes,
    content_type: str,
    *,
    idempotency_key: str | None,
    session: Session,
    clock: Clock,
    settings: Settings,
    may_post: Callable[[str], bool] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store an API batch; returns the answer and whether it is a replay of a stored one.

    `may_post(service)` False for any service of the batch refuses the whole
    batch (ServicesRefused, the caller rolls back): a supplier's token posts
    its own services only."""
    digest = hashlib.sha256(body).hexdigest()
    batch = None
    if idempotency_key:
        earlier = session.get(UsageBatch, idempotency_key)
        if earlier is not None:
            if earlier.body_sha256 != digest:
                raise IdempotencyConflict(
                    f"Idempotency-Key {idempotency_key!r} was used for a different batch; use a new key for new data"
                )
            return earlier.response, True
        # Claimed before any count is written: a concurrent retry with the same
        # key fails on this row and its whole transaction rolls back.
        batch = UsageBatch(idempotency_key=idempotency_key, body_sha256=digest, response={}, created_at=clock.now())
        session.add(batch)
        session.flush()
    not_after, _, _ = _limits(clock.now(), settings)
    fmt, chunks = parse_batch(body, content_type, not_after=not_after)
    if may_post is not None:
        chunks = _allowed_only(chunks, may_post)
    report = store_chunks(chunks, IngestReport("api", fmt), session=session, clock=clock, settings=settings)
    answer = report.as_dict()
    for key in ("source", "status", "message", "findings", "note"):
        answer.pop(key)
    if batch is not None:
        batch.response = answer
    metrics.count_ingest("api", records=report.records, accepted=report.accepted, rejected=report.rejected)
    return answer, False


def _allowed_only(chunks: Iterable[Chunk], may_post: Callable[[str], bool]) -> Iterator[Chunk]:
    for chunk in chunks:
        table = chunk.records if chunk.partial is None else chunk.partial.spans
        names = table.column("service").unique().to_pylist() if table.num_rows else []
        refused = sorted(str(n) for n in names if not may_post(str(n)))
        if refused:
            shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5:,} more" if len(refused) > 5 else "")
            raise ServicesRefused(f"this token may not post usage for {shown}; nothing of the batch was stored")
        yield chunk


# -- files -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileOptions:
    feed: str = "default"
    format: Format | None = None
    timezone: str | None = None
    service_column: str | None = None
    sequence_pattern: str | None = None
    # The file grows and is followed by name (feeds.append): read up to its
    # last line end, "unchanged" when nothing was appended, a rotation noted.
    follow: bool = False

    def __post_init__(self) -> None:
        # A format given as text ("usage-csv", as in a feed's settings) is
        # taken as the Format it names; an unknown one is refused here.
        if self.format is not None and not isinstance(self.format, Format):
            try:
                object.__setattr__(self, "format", Format(self.format))
            except ValueError:
                known = ", ".join(f.value for f in Format)
                raise ValueError(f"unknown file format {self.format!r}; known: {known}") from None
        if self.timezone is not None:
            known_zone(self.timezone)

    @classmethod
    def for_feed(cls, feed: Feed | None, name: str = "default", **overrides: Any) -> FileOptions:
        base: dict[str, Any] = {}
        if feed is not None:
            base = {
                "feed": feed.name,
                "format": Format(feed.format) if feed.format else None,
                "timezone": feed.timezone,
                "service_column": feed.service_column,
                "sequence_pattern": feed.sequence_pattern,
                "follow": feed.append or None,
            }
        else:
            base = {"feed": name}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


def _finding(
    session: Session,
    clock: Clock,
    feed: str,
    name: str,
    kind: FileFindingKind,
    detail: str,
    missing: tuple[int, int] | None = None,
) -> Finding | None:
    """Record a failed file control; the alert it raises (None for a note)."""
    row = FileFinding(
        feed=feed,
        file_name=name,
        kind=kind,
        detail=detail[:1000],
        created_at=clock.now(),
        first_missing=missing and missing[0],
        last_missing=missing and missing[1],
    )
    session.add(row)
    return controls.raise_alert(row)


def _sequence_checks(
    session: Session, clock: Clock, options: FileOptions, name: str, report: IngestReport
) -> int | None:
    if not options.sequence_pattern:
        return None
    sequence = filecontrol.sequence_number(name, options.sequence_pattern)
    if sequence is None:
        return None
    highest = session.scalar(select(func.max(IngestedFile.sequence)).where(IngestedFile.feed == options.feed))
    used_by = session.scalar(
        select(IngestedFile.name).where(IngestedFile.feed == options.feed, IngestedFile.sequence == sequence).limit(1)
    )
    for found in filecontrol.check_sequence(sequence, highest=highest, used_by=used_by):
        alert = _finding(session, clock, options.feed, name, found.kind, found.detail, found.missing)
        report.alerts.extend([alert] if alert else [])
        report.findings.append(f"{found.kind}: {found.detail}")
    return sequence


def _read_chunks(
    arrival: Arrival,
    fmt: Format,
    options: FileOptions,
    settings: Settings,
    not_after: int,
    counted: append.Counted,
) -> Generator[Chunk, None, None]:
    data, arrived, release = arrival.data, arrival.arrived, arrival.release
    after = (counted.end, counted.lines)
    if fmt is Format.USAGE_CSV:
        return read_usage_csv(
            data, not_after=not_after, fold=fold_partial, arrived=arrived, release=release, after=after
        )
    asterisk = AsteriskOptions(
        timezone=options.timezone or settings.asterisk_timezone,
        service_column=options.service_column or "accountcode",
    )
    return read_asterisk_csv(
        data, options=asterisk, not_after=not_after, fold=fold_partial, arrived=arrived, release=release, after=after
    )


class _Refused(Exception):
    """A file whose counts must not stay (a duplicate, or unreadable part way):
    its transaction is rolled back and the finding, if it has a kind,
    written in a new one."""

    def __init__(self, report: IngestReport, kind: FileFindingKind | None) -> None:
        super().__init__(report.message)
        self.report = report
        self.kind = kind


def _ingest_file(
    path: Path,
    *,
    session: Session,
    clock: Clock,
    settings: Settings,
    options: FileOptions,
    on_progress: Progress | None,
) -> IngestReport:
    """Ingest one file into the session's transaction; raise _Refused for a
    file whose counts must be rolled back.

    The file is parsed and its counts written while it is still being read
    and hashed (feeds/arrival.py). What of it was counted before, as a file
    it has grown from, is found by its first lines before it is parsed
    (feeds/append.py), and only the rest is parsed. A duplicate that this
    does not find (a file with no line end near its start) is found once the
    hash is known, and the caller rolls the whole transaction back and writes
    the finding in a new one. A concurrent ingest of the same file fails on
    the file row's unique hash and rolls back whole.
    """
    try:
        arrival = Arrival.of(path, whole_lines=True) if options.follow else Arrival.of(path)
    except OSError as exc:
        report = IngestReport(str(path), str(options.format or "unknown"), "unreadable", str(exc))
        raise _Refused(report, FileFindingKind.UNREADABLE_FILE) from exc
    with ExitStack() as reading:
        reading.enter_context(arrival)
        fmt = options.format
        if fmt is None:
            try:
                arrival.arrived(SAMPLE_BYTES)
                fmt = detect_format(arrival.data)
            except UnreadableFile:
                fmt = Format.USAGE_CSV  # the read failed; it is reported below
        if options.follow and not arrival.size:
            return IngestReport(str(path), fmt, "unchanged", note="no complete line yet: nothing to count")
        try:
            heads = append.head_hashes(arrival) if arrival.size else ()
            known = _known(session, heads, arrival.size, options.feed)
            counted = append.Counted()
            if known.head or options.follow:
                counted = append.counted_before(
                    session, arrival, heads, feed=options.feed, name=path.name, follow=options.follow
                )
        except UnreadableFile as exc:  # it could not be read as far as its first lines, or its counted start
            unreadable = IngestReport(str(path), fmt, "unreadable", str(exc))
            raise _Refused(unreadable, FileFindingKind.UNREADABLE_FILE) from exc
        origin = append.origin(path, arrival)
        if counted.earlier is not None and counted.end == arrival.size:
            raise _again(path, counted.earlier, origin, options, fmt)
        if counted.released:
            arrival = reading.enter_context(_read_again(path, arrival, options))
        report = IngestReport(str(path), fmt)
        not_after, _, _ = _limits(clock.now(), settings)
        digest: str | None = None
        try:
            store_chunks(
                _read_chunks(arrival, fmt, options, settings, not_after, counted),
                report,
                session=session,
                clock=clock,
                settings=settings,
                on_progress=on_progress,
            )
            digest = "blake3:" + arrival.digest()
        except UnreadableFile as exc:
            report.message = str(exc)
    earlier = None
    if digest is not None and report.rows and counted.earlier is None:  # a file without rows has nothing to count twice
        earlier = _counted_before(session, path, digest, arrival.size)
    if earlier is not None:
        raise _again(path, earlier, origin, options, fmt)
    if report.message is None and report.rows and report.rejected == report.rows:
        # Not one good row: the wrong format or a broken export, not a feed.
        report.message = f"none of its {report.rows:,} rows could be read as {fmt}"
        if report.errors:
            first = report.errors[0]
            report.message += f"; the first, line {first.line or first.index + 1}, {first.field}: {first.reason}"
    if report.message is not None:
        report.status = "unreadable"
        report.new_services, report.records, report.services = [], 0, 0
        raise _Refused(report, FileFindingKind.UNREADABLE_FILE)
    _say_what_was_counted(session, clock, options, path, arrival.size, counted, report)
    sequence = None if counted.earlier else _sequence_checks(session, clock, options, path.name, report)
    record = IngestedFile(
        feed=options.feed,
        name=path.name,
        content_hash=digest,
        size=arrival.size,
        sequence=sequence,
        format=fmt,
        received_at=clock.now(),
        head_hash=heads[-1] if heads else None,
        counted_from=counted.end,
        origin=origin,
    )
    session.add(record)
    record.accepted, record.rejected = report.accepted, report.rejected
    record.errors = [e.as_dict() for e in report.errors]
    if known.open_findings:
        report.alerts += controls.good_file(
            session, feed=options.feed, name=path.name, sequence=sequence, now=clock.now()
        )
    return report


class _Known(NamedTuple):
    head: bool  # a counted file has this file's head: it may have grown from it (feeds.append)
    open_findings: bool  # the feed has file findings whose alerts are open (feeds.controls)


def _known(session: Session, heads: tuple[str, ...], size: int, feed: str) -> _Known:
    """What a file never seen needs to know, in one statement of two index
    look-ups, built once (two ORM queries built per file cost a 2,000-row
    file 1 ms more); the full look-ups run only where one finds something."""
    global _KNOWN
    if _KNOWN is None:
        files, findings = IngestedFile.__table__.c, FileFinding.__table__.c
        _KNOWN = select(
            exists().where(
                files.head_hash.in_(bindparam("heads", expanding=True)),
                files.size <= bindparam("size"),
                sql(FILE_COUNTED),
            ),
            exists().where(findings.feed == bindparam("feed"), findings.resolved_at.is_(None)),
        )
    found = session.execute(_KNOWN, {"heads": list(heads) or [""], "size": size, "feed": feed}).one()
    return _Known(bool(found[0]), bool(found[1]))


_KNOWN: Any = None


def _again(path: Path, earlier: IngestedFile, origin: str, options: FileOptions, fmt: str) -> _Refused:
    """The refusal of a file whose content was counted before: unchanged if it
    is the very file counted (met again after a crash between the commit and
    the inbox's move, or a followed file nothing was appended to), else a duplicate."""
    when = f"{earlier.received_at:%Y-%m-%d %H:%M:%S} UTC"
    same_file = earlier.origin == origin and earlier.feed == options.feed
    followed = options.follow and (earlier.feed, earlier.name) == (options.feed, path.name)
    if same_file or followed:
        return _Refused(IngestReport(str(path), fmt, "unchanged", note=f"counted {when}; nothing new since"), None)
    refused = IngestReport(str(path), fmt, "duplicate")
    refused.message = f"same content as {earlier.name} (feed {earlier.feed}), ingested {when}; nothing counted"
    refused.findings.append(f"{FileFindingKind.DUPLICATE_FILE}: {refused.message}")
    return _Refused(refused, FileFindingKind.DUPLICATE_FILE)


def _read_again(path: Path, old: Arrival, options: FileOptions) -> Arrival:
    """A new reading of a file whose start was hashed and let go to find what
    of it was counted before (feeds.append): the same file, or unreadable."""
    old.__exit__(None, None, None)
    fresh = Arrival(path, whole_lines=options.follow)
    if (fresh.identity, fresh.size) != (old.identity, old.size):
        fresh.__exit__(None, None, None)
        raise _Refused(
            IngestReport(
                str(path),
                str(options.format or "unknown"),
                "unreadable",
                "the file changed while it was read; ingest it once it is complete",
            ),
            FileFindingKind.UNREADABLE_FILE,
        )
    return fresh


def _say_what_was_counted(
    session: Session,
    clock: Clock,
    options: FileOptions,
    path: Path,
    size: int,
    counted: append.Counted,
    report: IngestReport,
) -> None:
    """Note an appended file (a finding where the feed is not known to append) or a followed file's rotation."""
    rotated = counted.rotated(size)
    if rotated is not None and counted.last is not None:
        report.note = (
            f"rotated since it was last ingested ({rotated}): counted as a new file. Lines written to "
            f"the old file after {counted.last.received_at:%Y-%m-%d %H:%M} UTC are in the rotated copy: "
            "ingest that too with --follow, and only what it adds is counted"
        )
    earlier = counted.earlier
    if earlier is None:
        return
    said = (
        f"lines 1 to {counted.lines:,} were counted before, as {earlier.name} (feed {earlier.feed}) at "
        f"{earlier.received_at:%Y-%m-%d %H:%M} UTC; only the lines after them are counted"
    )
    report.note = f"appended: {said}"
    if not options.follow:
        detail = f"{said}. If the feed's files grow, say so: watchkeeper feeds add {options.feed} --append"
        _finding(session, clock, options.feed, path.name, FileFindingKind.APPENDED_FILE, detail)
        report.findings.append(f"{FileFindingKind.APPENDED_FILE}: {detail}")


def _counted_before(session: Session, path: Path, digest: str, size: int) -> IngestedFile | None:
    """The file counted before with the same content, if there is one.

    Files recorded before migration 0013 carry a SHA-256 rather than a
    BLAKE3 hash. Only where such a file has this one's size is this file
    hashed again, with SHA-256, to compare: a supplier's file sent again
    after the upgrade is still refused, and every other file costs one
    look-up by size.
    """
    # The partial unique index's own condition, word for word, so that the index serves the look-up.
    counted = sql(FILE_COUNTED)
    earlier = session.scalar(select(IngestedFile).where(IngestedFile.content_hash == digest, counted))
    if earlier is not None:
        return earlier
    same_size_before = select(IngestedFile.id).where(
        IngestedFile.size == size, IngestedFile.content_hash.startswith("sha256:", autoescape=True), counted
    )
    if session.scalar(same_size_before.limit(1)) is None:
        return None
    try:
        with path.open("rb") as source:
            old_style = "sha256:" + hashlib.file_digest(source, "sha256").hexdigest()
    except OSError:
        return None  # gone since it was read: nothing to compare
    return session.scalar(select(IngestedFile).where(IngestedFile.content_hash == old_style, counted))


# Records what an ingest raised or resolved as alerts, in the ingest's own
# transaction (the caller's wiring hands them to alerts.service.record_all).
OnFindings = Callable[[Session, "list[Finding]"], None]


def ingest_file_in_transaction(
    path: Path,
    factory: Callable[[], Session],
    *,
    clock: Clock,
    settings: Settings,
    options: FileOptions = FileOptions(),
    on_progress: Progress | None = None,
    on_findings: OnFindings | None = None,
) -> IngestReport:
    """Ingest a file in its own transaction and commit the outcome, whatever it is.

    A duplicate or unreadable file is refused and reported, not raised: nothing
    of it is counted, and the refusal is kept as a file finding. So is a file
    that meets a defect in watchkeeper itself (an exception no check foresaw):
    no input may stop the process or, in the inbox, be retried forever. Only
    the database's own errors are raised, for the caller to retry the file.
    The alerts a file raises or resolves go to `on_findings` before the commit.
    """
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    session = factory()
    try:
        report = _ingest_file(
            path, session=session, clock=clock, settings=settings, options=options, on_progress=on_progress
        )
        _hand_over(session, report, on_findings)
        session.commit()
    except _Refused as refused:
        session.rollback()
        report = refused.report
        if refused.kind is not None:
            alert = _finding(session, clock, options.feed, path.name, refused.kind, report.message or report.status)
            report.alerts.extend([alert] if alert else [])
            _hand_over(session, report, on_findings)
            session.commit()
        metrics.count_file(report.status)
        return report
    except IntegrityError:
        # Another process took the same file between our check and our write.
        session.rollback()
        metrics.count_file("duplicate")
        return IngestReport(
            str(path),
            str(options.format or ""),
            "duplicate",
            "the same content was ingested concurrently; nothing counted",
        )
    except SQLAlchemyError:
        raise
    except Exception as exc:
        session.rollback()
        log.exception("ingest of %r failed", str(path))
        report = IngestReport(
            str(path),
            str(options.format or "unknown"),
            "unreadable",
            f"could not be ingested: {type(exc).__name__}: {exc}. Nothing of it was counted. "
            "This is a defect in watchkeeper: please report it with the file.",
        )
        alert = _finding(session, clock, options.feed, path.name, FileFindingKind.UNREADABLE_FILE, report.message or "")
        report.alerts.extend([alert] if alert else [])
        _hand_over(session, report, on_findings)
        session.commit()
        metrics.count_file(report.status)
        return report
    finally:
        session.close()
    metrics.count_ingest("file", records=report.records, accepted=report.accepted, rejected=report.rejected)
    metrics.count_file(report.status)
    return report


def record_refusal(
    report: IngestReport,
    factory: Callable[[], Session],
    *,
    clock: Clock,
    feed: str,
    on_findings: OnFindings | None = None,
) -> None:
    """Record, in a transaction of its own, a file refused outside an ingest
    (the inbox quarantines one that failed again and again): an unreadable
    file finding and its alert."""
    with factory() as session:
        alert = _finding(
            session,
            clock,
            feed,
            Path(report.source).name,
            FileFindingKind.UNREADABLE_FILE,
            report.message or report.status,
        )
        report.alerts.extend([alert] if alert else [])
        _hand_over(session, report, on_findings)
        session.commit()


def _hand_over(session: Session, report: IngestReport, on_findings: OnFindings | None) -> None:
    if report.alerts and on_findings is not None:
        on_findings(session, report.alerts)


def prune_batches(session: Session, *, now: datetime, settings: Settings) -> int:
    cutoff = now - timedelta(days=settings.idempotency_retention_days)
    result = session.execute(delete(UsageBatch).where(UsageBatch.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
