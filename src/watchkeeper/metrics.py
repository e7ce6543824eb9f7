"""Prometheus metrics, served at /metrics.

Only a process that serves them counts: the web app calls `serve_metrics`,
which makes the counters. Elsewhere (a command such as `watchkeeper ingest`,
whose counts no one could scrape) every call here does nothing, and
prometheus_client, with the HTTP and e-mail modules it loads, is never
imported: 15 ms of every command's start.
"""

from __future__ import annotations

from typing import Any

# The counters by name, once `serve_metrics` has made them.
_made: dict[str, Any] = {}


def serve_metrics() -> None:
    """Make the counters (once per process), so /metrics shows them, at zero until counted."""
    if _made:
        return
    from prometheus_client import Counter, Gauge

    _made.update(
        records=Counter("watchkeeper_ingest_records", "Usage records counted", ["source"]),
        rows=Counter("watchkeeper_ingest_rows", "Rows read, by outcome", ["source", "outcome"]),
        files=Counter("watchkeeper_ingest_files", "Files handled, by outcome", ["outcome"]),
        scheduler_lag=Gauge("watchkeeper_scheduler_lag_seconds", "How late the scheduler ran its most recent due job"),
        scheduler_runs=Counter("watchkeeper_scheduler_runs", "Scheduler job runs", ["job", "outcome"]),
        pbx_channels=Gauge("watchkeeper_pbx_channels_active", "Active channels on a PBX at its last look", ["pbx"]),
        pbx_calls=Gauge("watchkeeper_pbx_calls_active", "Calls in progress on a PBX at its last look", ["pbx"]),
    )


def count_ingest(source: str, *, records: int, accepted: int, rejected: int) -> None:
    """What one ingest counted: the core knows numbers, not the feeds' report that holds them."""
    if _made:
        _made["records"].labels(source=source).inc(records)
        _made["rows"].labels(source=source, outcome="accepted").inc(accepted)
        _made["rows"].labels(source=source, outcome="rejected").inc(rejected)


def count_file(outcome: str) -> None:
    if _made:
        _made["files"].labels(outcome=outcome).inc()


def scheduler_late(seconds: float) -> None:
    if _made:
        _made["scheduler_lag"].set(seconds)


def scheduler_ran(job: str, outcome: str) -> None:
    if _made:
        _made["scheduler_runs"].labels(job=job, outcome=outcome).inc()


def pbx_in_use(pbx: str, *, channels: int, calls: int) -> None:
    """A PBX's channels and calls at its last look (the time series is in pbx_snapshots)."""
    if _made:
        _made["pbx_channels"].labels(pbx=pbx).set(channels)
        _made["pbx_calls"].labels(pbx=pbx).set(calls)
