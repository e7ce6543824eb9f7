"""File controls as alerts: the findings a failed control raises, and when they resolve.

A failed control (a gap in a feed's sequence numbers, a number reused, a
duplicate or unreadable file) is recorded as a FileFinding and raises an
alert: a `Finding` the caller hands to alerts in the same transaction, so
silences, maintenance windows, support plans and incidents apply as to any
other alert. A finding is open (`resolved_at` None) until its alert resolves:

- a sequence gap, once every number it misses has arrived (late files);
- a duplicate, a reused number or an unreadable file is one-off: it
  resolves with the feed's next good file that arrives at least
  ONE_OFF_HOLD after it, so that it was seen (a good file dropped beside a
  duplicate in the same scan does not resolve it within the second).

An `appended_file` finding is a note, not an alert: nothing was lost or
counted twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.feeds.models import FileFinding, FileFindingKind, IngestedFile

if TYPE_CHECKING:
    from watchkeeper.finding import Finding

# Severities by kind (watchkeeper.finding.Severity's values). The
# Finding shape is loaded only where a file raises or resolves an alert:
# `watchkeeper ingest` of a clean file loads nothing of alerts/.
SEVERITY = {
    FileFindingKind.SEQUENCE_GAP: "error",  # usage that was never delivered is revenue lost
    FileFindingKind.UNREADABLE_FILE: "error",
    FileFindingKind.DUPLICATE_FILE: "warning",  # refused: nothing was counted twice
    FileFindingKind.SEQUENCE_REUSED: "warning",
}
ONE_OFF = (FileFindingKind.DUPLICATE_FILE, FileFindingKind.SEQUENCE_REUSED, FileFindingKind.UNREADABLE_FILE)
ONE_OFF_HOLD = timedelta(minutes=15)
SOURCE = "files"
ALERTNAME = "FileControl"


def labels(feed: str, kind: str) -> dict[str, str]:
    """A file alert's labels. `alertname` and `instance` (the feed) make the
    feed's file alerts one incident, apart from other feeds' and from alerts
    that carry neither (routing.group_labels)."""
    return {"alertname": ALERTNAME, "instance": feed, "feed": feed, "kind": str(kind)}


def alert_key(row: FileFinding) -> str:
    """One alert per feed and kind; one per gap for sequence gaps, each resolving by itself."""
    if row.kind == FileFindingKind.SEQUENCE_GAP:
        return f"files/{row.feed}/{row.kind}/{row.first_missing}-{row.last_missing}"
    return f"files/{row.feed}/{row.kind}"


def raise_alert(row: FileFinding) -> Finding | None:
    """The firing finding of a new FileFinding; None (and resolved at once) for a note."""
    from watchkeeper.finding import Finding, Severity, State

    kind = FileFindingKind(row.kind)
    if kind not in SEVERITY:
        row.resolved_at = row.created_at
        return None
    return Finding(
        dedup_key=alert_key(row),
        source=SOURCE,
        service=None,
        severity=Severity(SEVERITY[kind]),
        state=State.FIRING,
        summary=f"feed {row.feed}: {kind.replace('_', ' ')}, {row.file_name}: {row.detail}",
        observed_at=row.created_at,
        labels=labels(row.feed, kind),
        details={"file": row.file_name, "feed": row.feed},
    )


def good_file(session: Session, *, feed: str, name: str, sequence: int | None, now: datetime) -> list[Finding]:
    """A good file of `feed` was counted: the open findings it ends, resolved, as findings."""
    open_rows = list(
        session.scalars(select(FileFinding).where(FileFinding.feed == feed, FileFinding.resolved_at.is_(None)))
    )
    if not open_rows:
        return []
    from watchkeeper.finding import Finding, Severity, State

    ended: dict[str, tuple[FileFinding, str]] = {}
    for row in open_rows:
        reason = _ends(session, row, name=name, sequence=sequence, now=now)
        if reason is not None:
            row.resolved_at = now
            ended[alert_key(row)] = (row, reason)
    return [
        Finding(
            dedup_key=key,
            source=SOURCE,
            service=None,
            severity=Severity(SEVERITY[FileFindingKind(row.kind)]),
            state=State.RESOLVED,
            summary=reason,
            observed_at=now,
            labels=labels(row.feed, row.kind),
        )
        for key, (row, reason) in ended.items()
    ]


def _ends(session: Session, row: FileFinding, *, name: str, sequence: int | None, now: datetime) -> str | None:
    """Why the good file `name` ends the open finding `row`; None if it does not."""
    if row.kind in ONE_OFF:
        if now - row.created_at < ONE_OFF_HOLD:
            return None
        return f"feed {row.feed} delivered a good file again: {name}"
    if row.kind != FileFindingKind.SEQUENCE_GAP or sequence is None or row.first_missing is None:
        return None
    low, high = row.first_missing, row.last_missing or row.first_missing
    if not low <= sequence <= high:
        return None
    # The file being counted is in the session, not yet flushed: the count sees it (autoflush).
    arrived = session.scalar(
        select(func.count(func.distinct(IngestedFile.sequence))).where(
            IngestedFile.feed == row.feed, IngestedFile.sequence >= low, IngestedFile.sequence <= high
        )
    )
    if (arrived or 0) < high - low + 1:
        return None
    missing = str(low) if low == high else f"{low} to {high}"
    return f"feed {row.feed}: the late file(s) {missing} arrived, the last {name}; the gap is filled"
