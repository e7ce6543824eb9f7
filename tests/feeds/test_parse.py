from __future__ import annotations

import random

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.feeds.parse import (
    ASTERISK_LAYOUTS,
    AsteriskOptions,
    Format,
    UnreadableFile,
    detect_format,
    read_asterisk_csv,
    read_usage_csv,
)


def records(chunks) -> list[dict]:
    return [row for chunk in chunks for row in chunk.records.to_pylist()]


def errors(chunks) -> list:
    return [e for chunk in chunks for e in chunk.errors]


def asterisk_row(
    columns: int,
    *,
    account="acme",
    dcontext="from-trunk",
    start="2026-11-23 09:15:00",
    billsec="42",
    clid='"Smith, John" <100>',
) -> str:
    values = {
        "accountcode": account,
        "src": "100",
        "dst": "200",
        "dcontext": dcontext,
        "clid": clid,
        "channel": "SIP/a-1",
        "dstchannel": "SIP/b-2",
        "lastapp": "Dial",
        "lastdata": "SIP/200,30,tT",
        "start": start,
        "answer": start,
        "end": start,
        "duration": "45",
        "billsec": billsec,
        "disposition": "ANSWERED",
        "amaflags": "DOCUMENTATION",
        "uniqueid": "1700000000.1",
        "userfield": "vip, gold",
        "peeraccount": "peer",
        "linkedid": "1700000000.1",
        "sequence": "7",
    }
    fields = [values[name] for name in ASTERISK_LAYOUTS[columns]]
    return ",".join('"' + f.replace('"', '""') + '"' if not f.isdigit() else f for f in fields)


def test_usage_csv_reads_quoted_commas_in_service_names():
    data = b'timestamp,service,count,quantity\n2026-11-23T09:15:00Z,"Acme, Inc",3,12.5\n'
    assert records(read_usage_csv(data)) == [{"service": "Acme, Inc", "ts": 1795425300, "count": 3, "quantity": 12.5}]


def test_usage_csv_accepts_offsets_fractions_naive_utc_and_epoch_seconds():
    data = (
        b"timestamp,service,count\n2026-11-23T10:15:00+01:00,a,1\n2026-11-23T09:15:00.75Z,a,1\n"
        b"2026-11-23 09:15:00,a,1\n1795425300,a,1\n"
    )
    assert {r["ts"] for r in records(read_usage_csv(data))} == {1795425300}


def test_usage_csv_count_defaults_to_one_and_quantity_is_optional():
    data = b"timestamp,service\n2026-11-23T09:15:00Z,a\n"
    assert records(read_usage_csv(data)) == [{"service": "a", "ts": 1795425300, "count": 1, "quantity": 0.0}]


def test_usage_csv_bad_date_on_line_n_is_reported_as_line_n():
    lines = ["timestamp,service,count"] + [f"2026-11-23T09:{m:02d}:00Z,a,1" for m in range(10)]
    lines[7] = "2026-11-31T09:00:00Z,a,1"
    chunks = list(read_usage_csv(("\n".join(lines) + "\n").encode()))
    (error,) = errors(chunks)
    assert (error.line, error.field) == (8, "timestamp")
    assert "2026-11-31" in error.reason
    assert len(records(chunks)) == 9


def test_usage_csv_without_header_is_unreadable():
    with pytest.raises(UnreadableFile, match="timestamp,service"):
        list(read_usage_csv(b"2026-11-23T09:15:00Z,a,1\n"))


def test_usage_csv_rejects_negative_counts_and_future_times():
    data = b"timestamp,service,count\n2026-11-23T09:15:00Z,a,-1\n2030-01-01T00:00:00Z,a,1\n"
    found = errors(read_usage_csv(data, not_after=1795425300 + 86400))
    assert [(e.line, e.field) for e in found] == [(2, "count"), (3, "timestamp")]
    assert "future" in found[1].reason


def test_stray_quote_does_not_swallow_the_good_rows_after_it():
    data = b'timestamp,service,count\n"2026-11-23T09:15:00Z,a,1\n2026-11-23T09:16:00Z,b,1\n2026-11-23T09:17:00Z,c,1\n'
    chunks = list(read_usage_csv(data))
    assert [r["service"] for r in records(chunks)] == ["b", "c"]
    assert [(e.line, e.field) for e in errors(chunks)] == [(2, "row")]


def test_blank_lines_are_skipped_not_rejected_and_line_numbers_hold():
    data = b"timestamp,service,count\n\n2026-11-23T09:15:00Z,a,1\n\nbad,a,1\n"
    chunks = list(read_usage_csv(data))
    assert [(e.line, e.field) for e in errors(chunks)] == [(5, "timestamp")]
    assert sum(c.rows for c in chunks) == 2


@pytest.mark.parametrize("columns", [16, 17, 18, 21])
def test_asterisk_variants_are_read_by_their_column_count(columns):
    data = (asterisk_row(columns) + "\n" + asterisk_row(columns, account="", dcontext="pbx-b") + "\n").encode()
    rows = records(read_asterisk_csv(data))
    assert [(r["service"], r["count"], r["quantity"]) for r in rows] == [("acme", 1, 42.0), ("pbx-b", 1, 42.0)]


def test_a_cdr_without_accountcode_or_dcontext_is_reported_and_dcontext_is_trimmed():
    data = "\n".join(
        [
            asterisk_row(16, account=" ", dcontext="  "),
            asterisk_row(16, account="", dcontext=" pbx-b "),
            asterisk_row(16, account=" acme "),
        ]
    ).encode()
    chunks = list(read_asterisk_csv(data))
    assert [r["service"] for r in records(chunks)] == ["pbx-b", "acme"]
    assert [(e.line, e.field, e.reason) for e in errors(chunks)] == [
        (1, "accountcode", "no service: accountcode and dcontext are empty")
    ]


def test_asterisk_dates_are_local_to_the_configured_zone():
    data = (asterisk_row(16, start="2026-07-01 12:00:00") + "\n").encode()
    (row,) = records(read_asterisk_csv(data, options=AsteriskOptions(timezone="Europe/Berlin")))
    assert row["ts"] == 1782900000  # 10:00 UTC, Berlin summer time is UTC+2


def test_asterisk_service_column_can_be_named_or_numbered():
    data = (asterisk_row(18) + "\n").encode()
    by_name = records(read_asterisk_csv(data, options=AsteriskOptions(service_column="userfield")))
    by_number = records(read_asterisk_csv(data, options=AsteriskOptions(service_column="18")))
    assert by_name[0]["service"] == by_number[0]["service"] == "vip, gold"


def test_asterisk_bad_date_on_line_n_is_reported_as_line_n():
    rows = [asterisk_row(16) for _ in range(5)]
    rows[3] = asterisk_row(16, start="2026-11-23 25:00:00")
    chunks = list(read_asterisk_csv(("\n".join(rows) + "\n").encode()))
    assert [(e.line, e.field) for e in errors(chunks)] == [(4, "start")]
    assert len(records(chunks)) == 4


def test_asterisk_file_with_no_known_layout_is_unreadable():
    with pytest.raises(UnreadableFile, match="16, 17, 18 or 21"):
        list(read_asterisk_csv(b"a,b,c\nd,e,f\n"))


def test_unknown_service_column_names_the_fields_there_are():
    with pytest.raises(UnreadableFile, match="userfield"):
        list(read_asterisk_csv((asterisk_row(16) + "\n").encode(), options=AsteriskOptions(service_column="userfield")))


def test_format_is_detected_from_the_header():
    assert detect_format(b'"timestamp","service"\n') is Format.USAGE_CSV
    assert detect_format((asterisk_row(16) + "\n").encode()) is Format.ASTERISK_CSV


def test_a_wrong_or_missing_header_is_told_about_as_a_usage_csv_header():
    for first_line in (b"time,svc\n", b"2026-11-23T09:15:00Z,a,1\n", b"service,count,ts_utc\n"):
        assert detect_format(first_line + b"2026-11-23T09:15:00Z,a,1\n") is Format.USAGE_CSV
        with pytest.raises(UnreadableFile, match="usage-csv starts with: timestamp,service"):
            list(read_usage_csv(first_line))
    with pytest.raises(UnreadableFile, match="empty: usage-csv needs a header line"):
        list(read_usage_csv(b"\n\n"))


def test_a_byte_order_mark_is_neither_part_of_the_header_nor_of_the_first_service():
    usage = b"\xef\xbb\xbftimestamp,service,count\n2026-11-23T09:15:00Z,a,2\n"
    assert detect_format(usage) is Format.USAGE_CSV
    assert records(read_usage_csv(usage))[0]["service"] == "a"
    master = b"\xef\xbb\xbf" + (asterisk_row(16) + "\n").encode()
    assert detect_format(master) is Format.ASTERISK_CSV
    assert [r["service"] for r in records(read_asterisk_csv(master))] == ["acme"]


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4, "gzip-compressed"),
        (b"PK\x03\x04" + bytes(range(256)) * 4, "ZIP archive"),
        (random.Random(3).randbytes(5000), "binary data"),
        (b"timestamp,service,count\r2026-11-23T09:15:00Z,a,1\r", "bare carriage return"),
    ],
)
def test_a_file_that_is_not_csv_text_is_refused_as_what_it_is(data, reason):
    for reader in (read_usage_csv, read_asterisk_csv):
        with pytest.raises(UnreadableFile, match=reason):
            list(reader(data))


def test_a_control_character_in_a_service_name_rejects_that_row_only():
    data = (
        'timestamp,service,count\n2026-11-23T09:15:00Z,a\x00b,1\n2026-11-23T09:15:00Z,"tab\tbed",1\n'
        "2026-11-23T09:15:00Z,Zürich-trunk,1\n2026-11-23T09:15:00Z,a b,1\n"
    ).encode()
    chunks = list(read_usage_csv(data))
    assert [r["service"] for r in records(chunks)] == ["Zürich-trunk", "a b"]
    assert [(e.line, e.field) for e in errors(chunks)] == [(2, "service"), (3, "service")]
    assert "contains a control character: 'a\\x00b'" in errors(chunks)[0].reason
    master = "\n".join([asterisk_row(16, account="pbx\x07"), asterisk_row(16)]).encode()
    chunks = list(read_asterisk_csv(master))
    assert [(e.line, e.field, e.reason) for e in errors(chunks)] == [
        (1, "accountcode", "the service name contains a control character: 'pbx\\x07'")
    ]
    assert [r["service"] for r in records(chunks)] == ["acme"]


def test_a_line_the_csv_module_cannot_read_is_a_bad_row_and_the_rest_are_kept():
    # A carriage return inside an unquoted field ends the line for Arrow, so
    # the chunk is re-read line by line, where Python's csv refuses it.
    data = b"timestamp,service,count\n2026-11-23T09:15:00Z,a,1\n2026-11-23T09:15:00Z,x\ry,1\n2026-11-23T09:16:00Z,b,1\n"
    chunks = list(read_usage_csv(data))
    assert [r["service"] for r in records(chunks)] == ["a", "b"]
    (error,) = errors(chunks)
    assert (error.line, error.field) == (3, "row")
    assert error.reason.startswith("not readable as CSV")


@pytest.mark.parametrize("neighbour", ["", "2026-11-23T09:15:00Z,a,abc,1\n"])  # fast path, and the careful one
def test_counts_and_quantities_past_what_sums_can_hold_are_rejected(neighbour):
    rows = ["9223372036854775807,0", "1000000000000,0", "1000000000001,0", "1,1e400", "1,1e15", "1,2e15", "1,nan"]
    data = (
        "timestamp,service,count,quantity\n" + neighbour + "".join(f"2026-11-23T09:15:00Z,a,{r}\n" for r in rows)
    ).encode()
    chunks = list(read_usage_csv(data))
    assert [(r["count"], r["quantity"]) for r in records(chunks)] == [(10**12, 0.0), (1, 1e15)]
    first = 3 if neighbour else 2
    assert [(e.line, e.field) for e in errors(chunks)][-5:] == [
        (first, "count"),
        (first + 2, "count"),
        (first + 3, "quantity"),
        (first + 5, "quantity"),
        (first + 6, "quantity"),
    ]
    assert "is not a whole number from 0 to 1,000,000,000,000" in errors(chunks)[-5].reason


def test_times_before_2000_and_utc_offsets_past_23_59_are_rejected_and_the_rest_kept():
    stamps = {
        "0001-01-01T00:00:00Z": None,
        "1970-01-01T00:00:00Z": None,
        "1999-12-31T23:59:59Z": None,
        "2026-11-23T10:00:00+99:00": None,
        "2026-11-23T10:00:00+24:00": None,
        "2026-11-23T10:00:00+05:60": None,
        "2026-11-23 10:00:00 +9900": None,
        "2026-11-23T23:15:00+14:00": 1795425300,
        "2026-11-22T21:15:00-12:00": 1795425300,
        "2026-11-23T15:00:00+05:45": 1795425300,
        "2026-11-24T09:14:00+23:59": 1795425300,
        "2000-01-01T00:00:00Z": 946684800,
    }
    for careful in (False, True):
        lines = [f"{stamp},a,1" for stamp in stamps] + (["not,a,row,at,all"] if careful else [])
        chunks = list(read_usage_csv(("timestamp,service,count\n" + "\n".join(lines) + "\n").encode()))
        assert [r["ts"] for r in records(chunks)] == [ts for ts in stamps.values() if ts is not None]
        reasons = [e.reason for e in errors(chunks) if e.field == "timestamp"]
        assert len(reasons) == 7 and "is before 2000: check the sender's clock" in reasons[0]
    master = "\n".join([asterisk_row(16, start="1970-01-01 00:00:00"), asterisk_row(16)]).encode()
    chunks = list(read_asterisk_csv(master))
    assert [(e.line, e.field) for e in errors(chunks)] == [(1, "start")] and len(records(chunks)) == 1


def test_binary_garbage_between_good_lines_is_rejected_quietly_and_the_good_rows_kept(capfd):
    garbage = random.Random(5).randbytes(20000)
    data = b"timestamp,service,count\n2026-11-23T09:15:00Z,a,1\n" + garbage + b"\n2026-11-23T09:16:00Z,b,1\n"
    chunks = list(read_usage_csv(data))
    assert [r["service"] for r in records(chunks)] == ["a", "b"]
    assert sum(c.rejected for c in chunks) == garbage.count(b"\n") + 1 - garbage.count(b"\n\n")
    assert capfd.readouterr().err == ""  # Arrow's reader printed "Exception ignored ... UnicodeDecodeError"


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"\xef\xbb\xbf", "empty"),
        (
            b"timestamp;service;count\n2026-11-23T09:15:00Z;a;1\n",
            "fields are separated by ';'; usage-csv separates them by commas",
        ),
        (b"timestamp\tservice\n2026-11-23T09:15:00Z\ta\n", "fields are separated by tabs"),
        ("timestamp,service\n2026-11-23T09:15:00Z,a\n".encode("utf-16"), "UTF-16 text: convert it to UTF-8 first"),
        ("timestamp,service\n2026-11-23T09:15:00Z,a\n".encode("utf-16-le"), "UTF-16 text"),
    ],
)
def test_what_a_file_that_cannot_be_read_is_is_said(data, reason):
    fmt = detect_format(data)
    reader = read_usage_csv if fmt is Format.USAGE_CSV else read_asterisk_csv
    with pytest.raises(UnreadableFile, match=reason):
        list(reader(data))


def test_service_columns_are_numbered_from_1():
    with pytest.raises(UnreadableFile, match="columns are numbered from 1"):
        list(read_asterisk_csv((asterisk_row(16) + "\n").encode(), options=AsteriskOptions(service_column="0")))


def test_a_header_naming_a_column_twice_is_refused():
    for header in ("timestamp,service,service", "ts,timestamp,service", "timestamp,service,count,count"):
        with pytest.raises(UnreadableFile, match="more than once"):
            list(read_usage_csv(f"{header}\n".encode()))


garbage = st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), garbage), min_size=1, max_size=40), st.integers(0, 2**32))
def test_garbage_lines_between_good_rows_never_lose_a_good_row(pattern, seed):
    rng = random.Random(seed)
    lines, good = ["timestamp,service,count"], 0
    for item in pattern:
        if item is None or item.strip() == "":
            lines.append(f"2026-11-23T09:{rng.randrange(60):02d}:00Z,svc-{rng.randrange(5)},2")
            good += 1
        else:
            lines.append(item)
    chunks = list(
        read_usage_csv(
            ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"),
        )
    )
    counted = sum(r["count"] for r in records(chunks) if r["service"].startswith("svc-") and r["count"] == 2)
    assert counted >= 2 * good  # every good row counted (garbage may itself parse as a row)
    assert all(e.line and 2 <= e.line <= len(lines) for e in errors(chunks))


def test_small_chunks_give_the_same_result_as_one_chunk():
    from watchkeeper.feeds.parse import convert_usage, read_csv_chunks

    lines = ["timestamp,service,count"] + [f"2026-11-23T09:{m % 60:02d}:00Z,s{m % 7},1" for m in range(500)]
    lines[250] = "garbage"
    data = ("\n".join(lines) + "\n").encode()
    small = list(
        read_csv_chunks(
            data,
            names=["timestamp", "service", "count"],
            wanted=["timestamp", "service", "count"],
            convert=lambda c: convert_usage(c, not_after=None),
            skip_header=True,
            chunk_bytes=256,
        )
    )
    assert len(small) > 10
    assert sum(c.records.num_rows for c in small) == 499
    assert [(e.line, e.index) for e in errors(small)] == [(251, 249)]
    assert pa.concat_tables([c.records for c in small]).equals(
        pa.concat_tables([c.records for c in read_usage_csv(data)])
    )
