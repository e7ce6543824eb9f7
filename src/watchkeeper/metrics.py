"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from watchkeeper.feeds.ingest import IngestReport

RECORDS = Counter("watchkeeper_ingest_records", "Usage records counted", ["source"])
ROWS = Counter("watchkeeper_ingest_rows", "Rows read, by outcome", ["source", "outcome"])
FILES = Counter("watchkeeper_ingest_files", "Files handled, by outcome", ["outcome"])
SCHEDULER_LAG = Gauge(
    "watchkeeper_scheduler_lag_seconds", "How late the scheduler ran its most recent due job"
)
SCHEDULER_RUNS = Counter("watchkeeper_scheduler_runs", "Scheduler job runs", ["job", "outcome"])


def count_ingest(source: str, report: IngestReport) -> None:
    RECORDS.labels(source=source).inc(report.records)
    ROWS.labels(source=source, outcome="accepted").inc(report.accepted)
    ROWS.labels(source=source, outcome="rejected").inc(report.rejected)
