"""Vectorised parsing of usage files: bytes in, Arrow columns and row errors out.

pyarrow is the engine: its multi-threaded CSV reader, compute kernels that
turn bad values into nulls instead of failing a whole column (strptime with
`error_is_null`, regex matches), and time-zone conversion. Polars and DuckDB
read CSV as fast, but neither reports a bad row without failing or silently
dropping it; pyarrow's `invalid_row_handler` does.

A file is read in chunks cut at line ends. A chunk first goes through the
fast reader; the result is trusted only if every physical line became exactly
one row. A stray quote makes a CSV reader swallow the following lines into one
bad row, which would lose good records, so a chunk that fails that check is
re-read line by line (the careful path) where no row can span two lines.
"""

from __future__ import annotations

import csv
import mmap
import os
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from watchkeeper.feeds.errors import UnreadableFile

# A file is cut into about CHUNKS_PER_FILE chunks of CHUNK_BYTES_MIN to
# CHUNK_BYTES_MAX: enough chunks for the reader threads and the writer to
# overlap, few enough that each chunk's fixed costs (an Arrow group-by, a
# round of upserts) stay small.
CHUNKS_PER_FILE = 8
CHUNK_BYTES_MIN = 4 << 20
# The first chunk is smaller (1 MB rather than 4), so the writer starts
# sooner and its first upserts overlap the parse of the rest.
FIRST_CHUNK_BYTES = 1 << 20
CHUNK_BYTES_MAX = 32 << 20
READERS = 2  # chunks parsed at once, each on a thread of its own
# Arrow's CSV reader can also spread one chunk over threads of its own. Where
# the readers already keep every core busy that only adds work: on 2 cores a
# 249 MB Master.csv cost 0.60-0.80 CPU-s that way against 0.45-0.55, and its
# ingest took 8 % longer.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
ARROW_THREADS = CORES > READERS
MAX_SERVICE_LENGTH = 200
# What one row may carry. Sums of counts are 64-bit integers: a row at the
# largest int64 made a service's total wrap negative. A trillion records in
# one row is no real feed, and nine million such rows still add up exactly.
MAX_COUNT = 10**12
MAX_QUANTITY = 1e15  # a petabyte, or 30 million years of seconds, in one row
# Records stamped before 2000 come from a PBX or sender whose clock was reset
# (1970 is epoch 0), not from history anyone bills.
EARLIEST = 946684800  # 2000-01-01T00:00:00Z
MAX_REPORTED_ERRORS = 100
SAMPLE_BYTES = 256 * 1024  # what format and layout detection look at
BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark, which Excel writes at the start of a CSV file
# Control bytes other than tab, line feed and carriage return: in text they
# are rare (a stray one is a bad row), in binary data about one byte in ten.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
BINARY_SHARE = 0.03
BINARY = "binary data, not CSV text: expected usage-csv or an Asterisk Master.csv"


class Format(StrEnum):
    USAGE_CSV = "usage-csv"
    ASTERISK_CSV = "asterisk-csv"


ASTERISK_BASE_COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
# Extra columns by count: loguniqueid adds uniqueid, loguserfield adds userfield,
# newcdrcolumns adds peeraccount, linkedid, sequence. With 17 columns the 17th is
# uniqueid (loguniqueid alone); a feed that logs only userfield names it "17".
ASTERISK_LAYOUTS: dict[int, tuple[str, ...]] = {
    16: ASTERISK_BASE_COLUMNS,
    17: (*ASTERISK_BASE_COLUMNS, "uniqueid"),
    18: (*ASTERISK_BASE_COLUMNS, "uniqueid", "userfield"),
    21: (*ASTERISK_BASE_COLUMNS, "uniqueid", "userfield", "peeraccount", "linkedid", "sequence"),
}
USAGE_COLUMNS = ("timestamp", "service", "count", "quantity")
RECORD_SCHEMA = pa.schema(
    [("service", pa.string()), ("ts", pa.int64()), ("count", pa.int64()), ("quantity", pa.float64())]
)


# Folds a chunk's good records on the reader thread (see feeds.fold).
Fold = Callable[[pa.Table], Any]
# A file's bytes: all in memory, or still arriving into an anonymous mapping (feeds.arrival).
Data = bytes | mmap.mmap
# Returns once the first n bytes of the data are there.
Arrived = Callable[[int], None]
# Told that the first n bytes of the data are no longer needed.
Release = Callable[[int], None]
# Bytes and lines at the start of a file that were counted before (feeds.append).
Counted = tuple[int, int]


@dataclass(frozen=True)
class RowError:
    """One rejected row: where it is, which field, and why."""

    index: int
    field: str
    reason: str
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class Chunk:
    """Good records of one chunk, plus how many rows it had and what was wrong."""

    records: pa.Table
    rows: int
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    bytes_read: int = 0
    lines: int = 0  # physical lines, blank ones included
    partial: Any = None  # what the reader's `fold` made of the records, when asked to fold


@dataclass(frozen=True)
class Columns:
    """String columns of the rows to convert, and where each row came from."""

    values: dict[str, pa.Array]
    index: np.ndarray  # data-row index within the batch (0-based)
    lines: np.ndarray | None  # physical line numbers (1-based), None for JSON


# -- conversions shared by every input format ---------------------------------------

_DIGITS = r"^\s*[0-9]{1,13}\s*$"
_DECIMAL = r"^\s*[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?\s*$"


def _real_dates(text: pa.Array) -> pa.Array:
    """True where the leading YYYY-MM-DD is a real calendar date.

    Arrow's strptime rolls 2026-11-31 over to 1 December, as C's mktime does;
    a supplier's impossible date is an error to report, not a day to shift.
    """
    head = pc.utf8_slice_codeunits(text, 0, 10)
    parsed = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.fill_null(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), head), False)


# A UTC offset past 23:59 (Arrow's parser takes +99:00 and shifts the time by
# four days): a time, then an offset whose hours or minutes are out of range.
_BAD_OFFSET = (
    r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*"
    r"[+-]((2[4-9]|[3-9][0-9])(:?[0-9]{2})?|[0-9]{2}:?[6-9][0-9])\s*$"
)


def per_distinct(values: pa.Array, parse: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Apply `parse` once per distinct value: a supplier file of one hour holds
    at most 3,600 distinct timestamps however many records it has."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    return pc.take(parse(encoded.dictionary), encoded.indices)


def parse_iso_timestamps(values: pa.Array) -> pa.Array:
    """ISO 8601 strings (or Unix seconds) to int64 epoch seconds; null where invalid.

    A time without an offset is taken as UTC. Sub-second parts are dropped:
    records are binned by minute.
    """
    try:
        # Fast path: every value carries a zone offset or Z.
        seconds = pc.divide(pc.cast(pc.cast(values, pa.timestamp("ns", tz="UTC")), pa.int64()), 10**9)
        return pc.if_else(pc.match_substring_regex(values, _BAD_OFFSET), pa.scalar(None, pa.int64()), seconds)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = pc.utf8_trim_whitespace(values)
    text = pc.replace_substring_regex(text, r"^(\d{4}-\d{2}-\d{2}) ", r"\1T")
    text = pc.replace_substring_regex(text, r"(T\d{2}:\d{2}:\d{2})\.\d+", r"\1")
    aware = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    naive = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    is_epoch = pc.match_substring_regex(text, r"^[0-9]{9,11}$")
    epoch = pc.cast(pc.if_else(is_epoch, text, pa.scalar(None, pa.string())), pa.int64())
    iso = pc.coalesce(pc.cast(aware, pa.int64()), pc.cast(naive, pa.int64()))
    iso = pc.if_else(
        pc.and_(_real_dates(text), pc.invert(pc.match_substring_regex(text, _BAD_OFFSET))),
        iso,
        pa.scalar(None, pa.int64()),
    )
    return pc.coalesce(iso, epoch)


def parse_local_timestamps(values: pa.Array, fmt: str, timezone: str) -> pa.Array:
    """Local wall-clock strings in `timezone` to epoch seconds; null where invalid.

    In the autumn hour that happens twice, the earlier reading is taken.
    """
    text = pc.utf8_trim_whitespace(values)
    naive = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    if fmt.startswith("%Y-%m-%d"):
        naive = pc.if_else(_real_dates(text), naive, pa.scalar(None, naive.type))
    if timezone != "UTC":
        naive = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(naive, pa.int64())


def _all_true(n: int) -> pa.Array:
    return pa.array(np.ones(n, dtype=bool))


def _count_values(values: pa.Array | None, n: int) -> tuple[pa.Array, pa.Array]:
    if values is None:
        return pa.array(np.ones(n, dtype=np.int64)), _all_true(n)
    try:  # fast path: a clean column casts whole
        counts = pc.cast(values, pa.int64())
        return counts, pc.and_(pc.greater_equal(counts, 0), pc.less_equal(counts, MAX_COUNT))
    except pa.ArrowInvalid:
        pass
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
    ok = pc.or_(pc.match_substring_regex(values, _DIGITS), empty)
    cleaned = pc.cast(pc.if_else(pc.or_(pc.invert(ok), empty), "1", pc.utf8_trim_whitespace(values)), pa.int64())
    return cleaned, pc.and_(ok, pc.less_equal(cleaned, MAX_COUNT))


def _quantity_values(values: pa.Array | None, n: int) -> tuple[pa.Array, pa.Array]:
    if values is None:
        return pa.array(np.zeros(n)), _all_true(n)
    try:
        quantities = pc.cast(values, pa.float64())
        return quantities, _in_quantity_range(quantities)
    except pa.ArrowInvalid:
        pass
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
    ok = pc.or_(pc.match_substring_regex(values, _DECIMAL), empty)
    cleaned = pc.cast(pc.if_else(pc.or_(pc.invert(ok), empty), "0", pc.utf8_trim_whitespace(values)), pa.float64())
    return cleaned, pc.and_(ok, _in_quantity_range(cleaned))


def _in_quantity_range(quantities: pa.Array) -> pa.Array:
    """0 to MAX_QUANTITY: not negative, not NaN, not infinite ("1e400" reads as infinity)."""
    return pc.and_(
        pc.is_finite(quantities), pc.and_(pc.greater_equal(quantities, 0), pc.less_equal(quantities, MAX_QUANTITY))
    )


def _service_values(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    return _named(pc.utf8_trim_whitespace(values))


def _named(names: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Trimmed names, and whether each is a usable service name: 1 to
    MAX_SERVICE_LENGTH characters, none of them a control character (a NUL
    or a tab in a name would be stored, shown and matched wrongly)."""
    length = pc.utf8_length(names)
    ok = pc.and_(pc.greater(length, 0), pc.less_equal(length, MAX_SERVICE_LENGTH))
    # ASCII first: ten times faster than the Unicode test, which only names
    # beyond ASCII (say "Zürich-trunk") need.
    printable = pc.ascii_is_printable(names)
    if not pc.all(printable).as_py():
        printable = pc.or_(printable, pc.utf8_is_printable(names))
    return names, pc.and_(ok, printable)


def name_problem(value: str) -> str:
    """Why `value` is not a usable service name (see _named)."""
    name = value.strip()
    if not name:
        return "is empty"
    if len(name) > MAX_SERVICE_LENGTH:
        return f"is longer than {MAX_SERVICE_LENGTH} characters"
    return f"contains a control character: {name!r}"


@dataclass(frozen=True)
class FieldCheck:
    """A field's validity per row and what to say about a bad one."""

    name: str
    ok: pa.Array
    raw: pa.Array | None
    reason: Callable[[str], str]


def assemble(
    columns: Columns,
    *,
    service: pa.Array,
    ts: pa.Array,
    count: pa.Array,
    quantity: pa.Array,
    checks: Sequence[FieldCheck],
    max_errors: int = MAX_REPORTED_ERRORS,
) -> Chunk:
    """Keep rows whose every check passes; report the first failing field of the rest."""
    good = np.ones(len(service), dtype=bool)
    oks = []
    for check in checks:
        ok = pc.fill_null(check.ok, False).to_numpy(zero_copy_only=False)
        oks.append(ok)
        good &= ok
    bad = np.flatnonzero(~good)
    errors = []
    for row in bad[:max_errors]:
        check, _ = next((c, ok) for c, ok in zip(checks, oks, strict=True) if not ok[row])
        raw = "" if check.raw is None else str(check.raw[int(row)].as_py())
        line = None if columns.lines is None else int(columns.lines[row])
        errors.append(RowError(int(columns.index[row]), check.name, check.reason(raw), line))
    mask = pa.array(good)
    records = pa.table(
        [service.filter(mask), ts.filter(mask), count.filter(mask), quantity.filter(mask)],
        schema=RECORD_SCHEMA,
    )
    return Chunk(records=records, rows=len(service), rejected=len(bad), errors=errors)


def _future_check(ts: pa.Array, not_after: int | None) -> pa.Array:
    if not_after is None:
        return _all_true(len(ts))
    return pc.less_equal(pc.fill_null(ts, 0), not_after)


def _past_check(ts: pa.Array) -> pa.Array:
    return pc.greater_equal(pc.fill_null(ts, EARLIEST), EARLIEST)


def convert_usage(columns: Columns, *, not_after: int | None) -> Chunk:
    """Rows of `timestamp, service, count[, quantity]` strings to checked records."""
    values = columns.values
    n = len(columns.index)
    ts = per_distinct(values["timestamp"], parse_iso_timestamps)
    service, service_ok = _service_values(values["service"])
    count, count_ok = _count_values(values.get("count"), n)
    quantity, quantity_ok = _quantity_values(values.get("quantity"), n)
    checks = [
        FieldCheck(
            "timestamp",
            pc.is_valid(ts),
            values["timestamp"],
            lambda v: f"{v!r} is not an ISO 8601 time (e.g. 2026-11-23T09:15:00Z)",
        ),
        FieldCheck(
            "timestamp",
            _future_check(ts, not_after),
            values["timestamp"],
            lambda v: f"{v!r} is in the future: check the sender's clock",
        ),
        FieldCheck(
            "timestamp",
            _past_check(ts),
            values["timestamp"],
            lambda v: f"{v!r} is before 2000: check the sender's clock",
        ),
        FieldCheck(
            "service",
            service_ok,
            values["service"],
            lambda v: f"must be 1 to {MAX_SERVICE_LENGTH} printable characters; {name_problem(v)}",
        ),
        FieldCheck(
            "count", count_ok, values.get("count"), lambda v: f"{v!r} is not a whole number from 0 to {MAX_COUNT:,}"
        ),
        FieldCheck(
            "quantity",
            quantity_ok,
            values.get("quantity"),
            lambda v: f"{v!r} is not a number from 0 to {MAX_QUANTITY:.0e}",
        ),
    ]
    return assemble(columns, service=service, ts=ts, count=count, quantity=quantity, checks=checks)


@dataclass(frozen=True)
class AsteriskOptions:
    timezone: str = "UTC"
    service_column: str = "accountcode"


def convert_asterisk(columns: Columns, *, options: AsteriskOptions, service_key: str, not_after: int | None) -> Chunk:
    values = columns.values
    n = len(columns.index)
    chosen = pc.utf8_trim_whitespace(values[service_key])
    missing = pc.equal(pc.binary_length(chosen), 0)
    if pc.any(missing).as_py():  # dcontext is read only where it is needed
        chosen = pc.if_else(missing, pc.utf8_trim_whitespace(values["dcontext"]), chosen)
    service, service_ok = _named(chosen)
    ts = per_distinct(values["start"], lambda v: parse_local_timestamps(v, "%Y-%m-%d %H:%M:%S", options.timezone))
    quantity, quantity_ok = _quantity_values(values["billsec"], n)
    count = pa.array(np.ones(n, dtype=np.int64))
    checks = [
        FieldCheck(
            "start", pc.is_valid(ts), values["start"], lambda v: f"{v!r} is not a date like 2026-11-23 09:15:00"
        ),
        FieldCheck(
            "start",
            _future_check(ts, not_after),
            values["start"],
            lambda v: f"{v!r} is in the future: check the PBX clock and feed time zone",
        ),
        FieldCheck("start", _past_check(ts), values["start"], lambda v: f"{v!r} is before 2000: check the PBX clock"),
        FieldCheck(
            options.service_column,
            service_ok,
            chosen,
            lambda v: (
                f"no service: {options.service_column} and dcontext are empty"
                if not v.strip()
                else f"the service name {name_problem(v)}"
            ),
        ),
        FieldCheck(
            "billsec",
            quantity_ok,
            values["billsec"],
            lambda v: f"{v!r} is not a number of seconds from 0 to {MAX_QUANTITY:.0e}",
        ),
    ]
    return assemble(columns, service=service, ts=ts, count=count, quantity=quantity, checks=checks)


# -- reading CSV bytes --------------------------------------------------------------


def _line_chunks(data: Data, first: int, chunk_bytes: int, arrived: Arrived) -> Iterator[tuple[int, int]]:
    """Line-aligned (start, end) spans. The first is small, so the writer has
    work while the readers parse the big ones."""
    start = first
    size = min(chunk_bytes, FIRST_CHUNK_BYTES)
    while start < len(data):
        end = min(start + size, len(data))
        size = chunk_bytes
        arrived(end)
        if end < len(data):
            cut = data.rfind(b"\n", start, end)
            end = cut + 1 if cut >= start else _line_end(data, end, arrived)  # else one line longer than a chunk
        yield start, end
        start = end


def _line_end(data: Data, start: int, arrived: Arrived) -> int:
    """Where the line that `start` is in ends (past its newline), waiting for
    no more of the data than that."""
    while start < len(data):
        end = min(start + SAMPLE_BYTES, len(data))
        arrived(end)
        cut = data.find(b"\n", start, end)
        if cut >= 0:
            return cut + 1
        start = end
    return len(data)


def _all_here(end: int) -> None:
    """`Arrived` for data that is all in memory."""


def _keep(end: int) -> None:
    """`Release` for data that stays in memory as a whole."""


def _count_lines(data: Data, start: int, end: int) -> int:
    """Physical lines in data[start:end], a last one without its newline included.

    numpy counts about four times faster than bytes.count and lets go of the
    GIL while it does; a megabyte at a time keeps its scratch array in cache.
    """
    if end <= start:
        return 0
    octets = np.frombuffer(data, np.uint8, end - start, start)
    step = 1 << 20
    newlines = sum(int(np.count_nonzero(octets[i : i + step] == 10)) for i in range(0, len(octets), step))
    return newlines + (0 if octets[-1] == 10 else 1)


def _fast_read(
    data: Data, start: int, end: int, names: Sequence[str], wanted: Sequence[str], lines: int
) -> pa.Table | None:
    """The chunk by Arrow's reader, or None where it cannot account for every
    line as one row. A row with the wrong number of fields fails the read at
    once (no invalid-row handler: Arrow could not even hand one a row that is
    not UTF-8, and printed "Exception ignored" for it), as does bad UTF-8."""
    try:
        table = pcsv.read_csv(
            pa.BufferReader(pa.py_buffer(memoryview(data)[start:end])),
            read_options=pcsv.ReadOptions(column_names=list(names), use_threads=ARROW_THREADS),
            parse_options=pcsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in wanted},
                include_columns=list(wanted),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows != lines:
        return None
    return table


def _careful_read(
    data: Data,
    start: int,
    end: int,
    names: Sequence[str],
    wanted: Sequence[str],
    first_line: int,
    errors: list[RowError],
) -> tuple[dict[str, list[str]], list[int], list[int], int]:
    """Line-by-line reading for a chunk the fast reader could not account for."""
    positions = [names.index(w) for w in wanted]
    out: dict[str, list[str]] = {w: [] for w in wanted}
    lines: list[int] = []
    indexes: list[int] = []
    rejected = 0
    index = 0
    for offset, raw in enumerate(data[start:end].split(b"\n")):
        text = raw.decode("utf-8", errors="surrogateescape").rstrip("\r")
        if not text.strip():
            continue
        line = first_line + offset
        fields, trouble = csv_fields(text)
        problem = None
        if trouble is not None:
            problem = ("row", f"not readable as CSV: {trouble}")
        elif len(fields) != len(names):
            problem = ("row", f"expected {len(names)} fields, found {len(fields)}")
        elif any(_has_surrogates(fields[p]) for p in positions):
            problem = ("row", "not valid UTF-8")
        if problem:
            rejected += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(RowError(index, problem[0], problem[1], line))
        else:
            for w, p in zip(wanted, positions, strict=True):
                out[w].append(fields[p])
            lines.append(line)
            indexes.append(index)
        index += 1
    return out, lines, indexes, rejected


def csv_fields(line: str) -> tuple[list[str], str | None]:
    """The fields of one CSV line, or no fields and what is wrong with it
    (a carriage return inside an unquoted field, a field over the csv module's
    128 KB limit): such a line is a bad row, never an error of the process."""
    try:
        return next(csv.reader([line]), []), None
    except csv.Error as exc:
        return [], str(exc)


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _drop_blank_rows(table: pa.Table) -> tuple[pa.Table, np.ndarray]:
    positions = np.arange(table.num_rows)
    if table.num_columns == 0 or pc.min(pc.binary_length(table.column(0))).as_py() != 0:
        return table, positions
    blank = None
    for column in table.columns:
        empty = pc.equal(pc.utf8_length(column), 0)
        blank = empty if blank is None else pc.and_(blank, empty)
    keep = pc.invert(blank) if blank is not None else None
    if keep is None or pc.all(keep).as_py():
        return table, positions
    return table.filter(keep), positions[keep.to_numpy(zero_copy_only=False)]


def _read_chunk(
    data: Data,
    start: int,
    end: int,
    *,
    names: Sequence[str],
    wanted: Sequence[str],
    convert: Callable[[Columns], Chunk],
    fold: Fold | None = None,
) -> Chunk:
    """One chunk with row indexes from 0 and line numbers from 1; the caller shifts them."""
    first_line = 1
    line_count = _count_lines(data, start, end)
    table = _fast_read(data, start, end, names, wanted, line_count)
    errors: list[RowError] = []
    rejected = 0
    if table is not None:
        table, positions = _drop_blank_rows(table)
        values = {w: table.column(w).combine_chunks() for w in wanted}
        lines = first_line + positions
        indexes = np.arange(len(positions))
    else:
        raw, line_list, index_list, rejected = _careful_read(data, start, end, names, wanted, first_line, errors)
        values = {w: pa.array(raw[w], pa.string()) for w in wanted}
        lines, indexes = np.array(line_list, dtype=np.int64), np.array(index_list, np.int64)
    chunk = convert(Columns(values, indexes, lines))
    chunk.rows += rejected
    chunk.rejected += rejected
    chunk.errors = sorted(errors + chunk.errors, key=lambda e: e.index)[:MAX_REPORTED_ERRORS]
    chunk.bytes_read = end - start
    chunk.lines = line_count
    if fold is not None:
        chunk.partial = fold(chunk.records)
    return chunk


def read_csv_chunks(
    data: Data,
    *,
    names: Sequence[str],
    wanted: Sequence[str],
    convert: Callable[[Columns], Chunk],
    skip_header: bool,
    chunk_bytes: int | None = None,
    workers: int = READERS,
    fold: Fold | None = None,
    arrived: Arrived = _all_here,
    release: Release = _keep,
    after: Counted = (0, 0),
) -> Generator[Chunk, None, None]:
    """Chunks of checked records from CSV `data`, in file order.

    Chunks are read on `workers` threads (Arrow's kernels release the GIL);
    at most a few are in flight, so memory stays bounded for any file size.
    `data` may still be arriving (see feeds/arrival.py): `arrived(n)` returns
    once its first n bytes are there, and `release(n)` is told when the
    first n bytes are parsed and no longer needed. `after`: the bytes and
    lines at the start that were counted before (an appended file); the
    reading begins after them.
    """
    if chunk_bytes is None:
        chunk_bytes = min(max(len(data) // CHUNKS_PER_FILE, CHUNK_BYTES_MIN), CHUNK_BYTES_MAX)
    arrived(len(BOM))
    begin = len(BOM) if data[: len(BOM)] == BOM else 0
    if skip_header:
        begin = _line_end(data, begin, arrived)
    lines_before = 1 if skip_header else 0
    if after[0]:
        begin, lines_before = after
    rows_before = 0
    parsed = begin
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[Chunk]] = deque()
        for start, end in _line_chunks(data, begin, chunk_bytes, arrived):
            pending.append(
                pool.submit(_read_chunk, data, start, end, names=names, wanted=wanted, convert=convert, fold=fold)
            )
            last = end == len(data)
            while len(pending) > workers or (last and pending):
                chunk = _shift(pending.popleft().result(), rows_before, lines_before)
                rows_before += chunk.rows
                lines_before += chunk.lines
                parsed += chunk.bytes_read  # chunks come back in file order
                release(parsed)
                yield chunk


def _shift(chunk: Chunk, rows_before: int, lines_before: int) -> Chunk:
    """Number a chunk's errors by their place in the whole file."""
    if rows_before or lines_before:
        chunk.errors = [
            replace(e, index=e.index + rows_before, line=None if e.line is None else e.line + lines_before)
            for e in chunk.errors
        ]
    return chunk


def check_text(data: Data) -> None:
    """Refuse, with what it is, a file that cannot hold a CSV line at all:
    compressed, an archive, or with lines ended by a bare carriage return.

    Binary data is not refused here, whatever its share of control bytes: a
    text file with garbage between its good lines could have as many, and
    its good rows must be kept. A file that is binary through and through
    fails at its header or layout, which then says so (`_binary`).
    """
    sample = bytes(data[:SAMPLE_BYTES])
    if sample.startswith(b"\x1f\x8b"):
        raise UnreadableFile("gzip-compressed, not CSV text: decompress it first (gunzip FILE)")
    if sample.startswith(b"PK\x03\x04"):
        raise UnreadableFile("a ZIP archive, not CSV text: unpack it first")
    head = sample[:200]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) >= 8 and head[1::2].count(0) > len(head) // 3):
        raise UnreadableFile("UTF-16 text: convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8 FILE)")
    if b"\n" not in sample and sample.rstrip(b"\r").count(b"\r") >= 1:
        raise UnreadableFile(
            "its lines end in a bare carriage return (classic Mac style); "
            "convert them to line feeds first (mac2unix FILE)"
        )


def _binary(data: Data) -> bool:
    """Whether the start of `data` looks like binary data rather than text."""
    sample = bytes(data[:SAMPLE_BYTES])
    return bool(sample) and len(sample.translate(None, delete=_CONTROL_BYTES)) < len(sample) * (1 - BINARY_SHARE)


def _first_line(data: Data) -> str:
    """The first line of `data`, without a byte-order mark, as text."""
    head = bytes(data[:4096]).removeprefix(BOM)
    return head.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()


def usage_header(data: Data) -> list[str]:
    """The usage-csv header's column names, checked."""
    example = "timestamp,service,count[,quantity]"
    if not bytes(data[:4096]).removeprefix(BOM).strip():
        raise UnreadableFile(f"empty: usage-csv needs a header line, {example}, then one record per line")
    first = _first_line(data)
    names, trouble = csv_fields(first)
    names = [n.strip().lower() for n in names]
    names = ["timestamp" if n == "ts" else n for n in names]
    missing = [n for n in ("timestamp", "service") if n not in names]
    twice = [n for n in USAGE_COLUMNS if names.count(n) > 1]
    if twice:
        raise UnreadableFile(
            f"line 1: the header names {', '.join(repr(n) for n in twice)} more than once "
            f"(timestamp and ts are one column); which to read is unclear"
        )
    if (trouble is not None or missing) and _binary(data):
        raise UnreadableFile(BINARY)
    if trouble is not None:
        raise UnreadableFile(f"line 1: the header is not readable as CSV ({trouble}); usage-csv starts with: {example}")
    other = next((s for s in (";", "\t", "|") if s in first and "," not in first), None)
    if missing and other is not None:
        shown = "tabs" if other == "\t" else repr(other)
        raise UnreadableFile(f"line 1: fields are separated by {shown}; usage-csv separates them by commas: {example}")
    if missing:
        raise UnreadableFile(
            f"line 1: header {','.join(names)!r} lacks {', '.join(missing)}; usage-csv starts with: {example}"
        )
    return names


def read_usage_csv(
    data: Data,
    *,
    not_after: int | None = None,
    fold: Fold | None = None,
    arrived: Arrived = _all_here,
    release: Release = _keep,
    after: Counted = (0, 0),
) -> Generator[Chunk, None, None]:
    arrived(SAMPLE_BYTES)
    check_text(data)
    names = usage_header(data)
    wanted = [n for n in USAGE_COLUMNS if n in names]
    yield from read_csv_chunks(
        data,
        names=names,
        wanted=wanted,
        convert=lambda columns: convert_usage(columns, not_after=not_after),
        skip_header=True,
        fold=fold,
        arrived=arrived,
        release=release,
        after=after,
    )


def asterisk_layout(data: Data) -> tuple[str, ...]:
    """The Master.csv column layout, from the field count most lines agree on."""
    sample = bytes(data[:SAMPLE_BYTES]).removeprefix(BOM).decode("utf-8", errors="replace").splitlines()[:200]
    counts: dict[int, int] = {}
    for line in sample:
        fields, trouble = csv_fields(line)
        if line.strip() and trouble is None:
            counts[len(fields)] = counts.get(len(fields), 0) + 1
    known = {n: c for n, c in counts.items() if n in ASTERISK_LAYOUTS}
    if not counts:
        raise UnreadableFile("empty: the file has no lines to read")
    if not known and _binary(data):
        raise UnreadableFile(BINARY)
    if not known:
        seen = ", ".join(str(n) for n in sorted(counts)) or "no lines"
        raise UnreadableFile(f"not an Asterisk Master.csv: expected 16, 17, 18 or 21 fields per line, found {seen}")
    return ASTERISK_LAYOUTS[max(known, key=lambda n: known[n])]


def read_asterisk_csv(
    data: Data,
    *,
    options: AsteriskOptions = AsteriskOptions(),
    not_after: int | None = None,
    fold: Fold | None = None,
    arrived: Arrived = _all_here,
    release: Release = _keep,
    after: Counted = (0, 0),
) -> Generator[Chunk, None, None]:
    arrived(SAMPLE_BYTES)
    check_text(data)
    names = asterisk_layout(data)
    column = options.service_column
    if column.isdigit():
        if int(column) == 0:
            raise UnreadableFile("service column 0: columns are numbered from 1 (accountcode)")
        if int(column) > len(names):
            raise UnreadableFile(f"service column {column} is beyond the {len(names)} fields")
        column = names[int(column) - 1]
    elif column not in names:
        raise UnreadableFile(
            f"service column {column!r} is not in this {len(names)}-field Master.csv (fields: {', '.join(names)})"
        )
    wanted = list(dict.fromkeys([column, "dcontext", "start", "billsec"]))
    yield from read_csv_chunks(
        data,
        names=names,
        wanted=wanted,
        convert=lambda columns: convert_asterisk(columns, options=options, service_key=column, not_after=not_after),
        skip_header=False,
        fold=fold,
        arrived=arrived,
        release=release,
        after=after,
    )


def detect_format(data: Data) -> Format:
    """usage-csv files start with their header; Asterisk Master.csv has none.

    A first line that names a usage-csv column anywhere, or that has too few
    fields for a Master.csv, is taken as a usage-csv header, so that a file
    with a wrong header is told about its header rather than that it is no
    Master.csv.
    """
    first = _first_line(data)
    fields, _ = csv_fields(first)
    fields = [f.strip().lower() for f in fields]
    if fields[:1] in (["timestamp"], ["ts"]):
        return Format.USAGE_CSV
    words = {w.strip(' "').lower() for w in re.split(r"[,;\t|]", first)}  # a header with another separator too
    looks_like_header = {"timestamp", "ts", "service", "count", "quantity"} & words
    if looks_like_header or 1 < len(fields) < min(ASTERISK_LAYOUTS):
        return Format.USAGE_CSV
    return Format.ASTERISK_CSV
