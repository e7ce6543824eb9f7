"""The inbox folder: files dropped by suppliers are ingested, then moved.

Layout: files directly in the inbox belong to the feed named `default`;
files in a sub-folder belong to the feed of that folder's name (configured
with `watchkeeper feeds add`). Each folder gets `done/` and `quarantine/`.
A duplicate or unreadable file goes to `quarantine/` with `NAME.error.txt`
beside it saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.clock import Clock
from watchkeeper.config import Settings
from watchkeeper.feeds.ingest import FileOptions, IngestReport, OnFindings, ingest_file_in_transaction, record_refusal
from watchkeeper.feeds.service import get_feed

log = logging.getLogger(__name__)

DONE = "done"
QUARANTINE = "quarantine"
_SKIPPED_SUFFIXES = (".tmp", ".part", ".partial", ".error.txt")
# A file whose ingest fails for a reason other than the database (which is
# waited out however long it takes) is tried this many times, then quarantined:
# a file that cannot be handled must not be retried, and logged, forever.
ATTEMPTS = 3
_failed: dict[tuple[str, int, int], int] = {}  # (path, size, mtime) -> failed attempts, in this process


def _candidates(folder: Path, *, now: float, settle: float) -> Iterator[Path]:
    """Settled entries other than folders: files, and what is dropped as one but
    is not (a pipe, a link to nothing), which the ingest refuses and the scan
    then quarantines rather than pass over forever."""
    for path in sorted(folder.iterdir()):
        if path.is_dir() or path.name.startswith(".") or path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        try:
            if now - path.lstat().st_mtime < settle:
                continue  # still being written
        except FileNotFoundError:
            continue
        yield path


def _feed_folders(root: Path) -> Iterator[tuple[str, Path]]:
    yield "default", root
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and folder.name not in (DONE, QUARANTINE) and not folder.name.startswith("."):
            yield folder.name, folder


def _move(path: Path, folder: str) -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    n = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{n}{path.suffix}"
        n += 1
    return path.rename(target)


def settle_file(path: Path, report: IngestReport) -> Path:
    """Move a handled file where its outcome says, with the reason for a refusal.

    An unchanged file (this very file, counted before a crash kept it from
    being moved; or a followed file nothing was appended to) goes to done/.
    """
    if report.status in ("ingested", "unchanged"):
        return _move(path, DONE)
    target = _move(path, QUARANTINE)
    target.with_name(target.name + ".error.txt").write_text(f"{report.status}: {report.message}\n", encoding="utf-8")
    return target


def scan_inbox(
    root: Path,
    factory: Callable[[], Session],
    *,
    clock: Clock,
    settings: Settings,
    on_findings: OnFindings | None = None,
) -> list[IngestReport]:
    """Ingest every settled file in the inbox once; never raises for a bad file.

    What a file raises or resolves as alerts goes to `on_findings` in that file's transaction.
    """
    root.mkdir(parents=True, exist_ok=True)
    reports = []
    now = clock.now().timestamp()
    for feed_name, folder in _feed_folders(root):
        with factory() as session:
            feed = get_feed(session=session, name=feed_name)
            options = FileOptions.for_feed(feed, feed_name)
        for path in _candidates(folder, now=now, settle=settings.inbox_settle_seconds):
            report: IngestReport | None
            try:
                report = ingest_file_in_transaction(
                    path, factory, clock=clock, settings=settings, options=options, on_findings=on_findings
                )
            except SQLAlchemyError as exc:  # the database is away: leave the file for the next scan
                log.warning("could not ingest %r, will retry: the database failed: %s", str(path), exc)
                continue
            except Exception as exc:
                report = _failure(path, exc, options.format)
                if report is None:
                    continue
                try:
                    record_refusal(report, factory, clock=clock, feed=options.feed, on_findings=on_findings)
                except SQLAlchemyError as db_exc:
                    log.warning("could not record the quarantine of %r: %s", str(path), db_exc)
            settle_file(path, report)
            log.info("%r: %s, %d accepted, %d rejected", path.name, report.status, report.accepted, report.rejected)
            reports.append(report)
    return reports


def _failure(path: Path, exc: Exception, fmt: object) -> IngestReport | None:
    """The report that quarantines `path` once it has failed ATTEMPTS times; None to try again."""
    try:
        found = path.stat()
    except OSError:
        return None  # gone meanwhile
    key = (str(path), found.st_size, found.st_mtime_ns)
    _failed[key] = attempts = _failed.get(key, 0) + 1
    if attempts < ATTEMPTS:
        log.exception("could not ingest %r (attempt %d of %d); will retry", str(path), attempts, ATTEMPTS)
        return None
    del _failed[key]
    log.exception("could not ingest %r after %d attempts; quarantined", str(path), attempts)
    return IngestReport(
        str(path),
        str(fmt or "unknown"),
        "unreadable",
        f"could not be ingested after {attempts} attempts: {type(exc).__name__}: {exc}",
    )
