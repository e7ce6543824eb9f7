"""`watchkeeper ingest`: usage files from the command line.

A module of its own, apart from the other feed commands, so that the command
loads only what an ingest needs (see watchkeeper.cli).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from watchkeeper.cli import common as cli_common
from watchkeeper.cli.common import context, print_json
from watchkeeper.clock import monotonic
from watchkeeper.feeds.ingest import FileOptions, IngestReport, OnFindings, ingest_file_in_transaction
from watchkeeper.feeds.models import Feed
from watchkeeper.feeds.parse import Format
from watchkeeper.words import count

PROGRESS_ABOVE_BYTES = 4 << 20
GOOD = ("ingested", "unchanged")


def record_alerts(ctx: Any) -> OnFindings:
    """Hands what an ingest raised or resolved to alerts, in the ingest's transaction.

    alerts.service (with incidents and the support desk behind it) loads
    only for a file that raised or resolved one: most ingests do neither,
    and loading it would add to every `watchkeeper ingest`'s start.
    """

    def record(session: Session, findings: list[Any]) -> None:
        from watchkeeper import models  # noqa: F401  (alerts' tables refer to incidents')
        from watchkeeper.alerts.service import RoutingConfig, record_all

        record_all(findings, session=session, now=ctx.clock.now(), config=RoutingConfig.from_settings(ctx.settings))

    return record


def _print_report(report: IngestReport, seconds: float) -> None:
    colour = {"ingested": "green", "unchanged": "green", "duplicate": "yellow"}.get(report.status, "red")
    console = cli_common.console  # rich's console loads here, only for a run that prints
    line = f"[{colour}]{report.status}[/{colour}] {report.source} ({report.format})"
    if report.status == "ingested":
        rate = report.rows / seconds if seconds > 0 else 0
        line += (
            f": {count(report.accepted, 'row')} accepted, {report.rejected:,} rejected, "
            f"{count(report.records, 'record')}, {count(report.services, 'service')} "
            f"({len(report.new_services):,} new) in {seconds:.2f} s, {rate:,.0f} rows/s"
        )
    console.print(line)
    if report.message:
        console.print(f"  {report.message}")
    if report.note:
        console.print(f"  {report.note}")
    for finding in report.findings:
        console.print(f"  [yellow]finding[/yellow] {finding}")
    if report.errors:
        from rich.table import Table

        table = Table(
            "line", "field", "reason", title=f"rejected rows in {Path(report.source).name}", title_justify="left"
        )
        for error in report.errors[:20]:
            table.add_row(str(error.line if error.line is not None else error.index), error.field, error.reason)
        console.print(table)
        if report.rejected > 20:
            console.print(f"  ... and {report.rejected - 20:,} more rejected rows (`--json` lists up to 100)")


def ingest(
    files: Annotated[list[Path], typer.Argument(help="usage-csv or Asterisk Master.csv files")],
    format: Annotated[Format | None, typer.Option("--format", "-f", help="default: the feed's, else detected")] = None,
    feed: Annotated[str, typer.Option(help="feed whose settings apply (see `watchkeeper feeds`)")] = "default",
    timezone: Annotated[str | None, typer.Option(help="time zone of Asterisk dates")] = None,
    service_column: Annotated[
        str | None, typer.Option(help="Asterisk column naming the service (name or 1-based number)")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="the file grows (Asterisk's Master.csv): count what was appended since the last run, "
            "up to its last complete line; a rotated file is counted anew",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print reports as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but errors")] = False,
) -> None:
    """Ingest usage files. Exit status: 0 all clean (or nothing new), 1 some rows rejected, 2 a file refused,
    3 could not run (a bad setting, an unreachable database).

    A file that begins with one counted before (a Master.csv that grew) is
    counted from where that one ended; duplicates, gaps and unreadable files
    raise alerts."""
    ctx = context()
    with ctx.transaction() as session:
        # The feed's row itself: watchkeeper.feeds.service, with the feed model's
        # schemas and rhythm, would add 0.02 s to the start for this one read.
        try:
            options = FileOptions.for_feed(
                session.get(Feed, feed),
                feed,
                format=format,
                timezone=timezone,
                service_column=service_column,
                follow=follow or None,
            )
        except ValueError as exc:
            raise cli_common.fail(str(exc), 3) from exc
    reports: list[dict[str, Any]] = []
    worst = 0
    for path in files:
        started = monotonic()
        report = _ingest_one(path, ctx, options, show_progress=not (quiet or as_json))
        seconds = monotonic() - started
        worst = max(worst, 2 if report.status not in GOOD else 1 if report.rejected else 0)
        if as_json:
            reports.append({**report.as_dict(), "seconds": round(seconds, 3)})
        elif not quiet:
            _print_report(report, seconds)
    if as_json:
        print_json(reports)
    raise typer.Exit(worst)


def _ingest_one(path: Path, ctx: Any, options: FileOptions, *, show_progress: bool) -> IngestReport:
    size = path.stat().st_size if path.exists() else 0
    alerts = record_alerts(ctx)
    if not show_progress or size < PROGRESS_ABOVE_BYTES:
        return ingest_file_in_transaction(
            path, ctx.sessions, clock=ctx.clock, settings=ctx.settings, options=options, on_findings=alerts
        )
    # Loaded only for a bar: rich.progress and rich's console are 0.05-0.08 s
    # of a start that `--quiet` and `--json` runs (scripts, cron) do not need.
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=cli_common.console,
        transient=True,
    ) as bar:
        task = bar.add_task(path.name, total=size)
        return ingest_file_in_transaction(
            path,
            ctx.sessions,
            clock=ctx.clock,
            settings=ctx.settings,
            options=options,
            on_progress=lambda n: bar.advance(task, n),
            on_findings=alerts,
        )
