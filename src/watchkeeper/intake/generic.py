"""The generic JSON webhook, for any monitor without Alertmanager or PagerDuty support. Pure.

One event, or a list of them:

    {"key": "disk-full/db1",          # required: the same key repeats, resolves
     "status": "firing",              # or "resolved"; default firing
     "summary": "Disk 95% full on db1",  # required when firing
     "severity": "critical",          # critical | error | warning | info; default error
     "service": "billing-db",         # optional: ties it to a watchkeeper service
     "labels": {"instance": "db1"},   # optional, used by silences, windows, grouping
     "details": {...},                # optional, kept as is
     "started_at": "2026-11-23T09:15:00Z"}  # optional
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from watchkeeper.finding import Finding, Severity, State
from watchkeeper.intake.parser import Answer, InPath, Parsed, Rejected, take_each
from watchkeeper.intake.service import Kind

MAX_EVENTS = 1000


class GenericEvent(BaseModel):
    key: str = Field(min_length=1, max_length=250)
    status: Literal["firing", "resolved"] = "firing"
    summary: str = Field(default="", max_length=2000)
    severity: Severity = Severity.ERROR
    service: str | None = Field(default=None, max_length=200)
    labels: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime | None = None

    @model_validator(mode="after")
    def _firing_needs_summary(self) -> GenericEvent:
        if self.status == "firing" and not self.summary.strip():
            raise ValueError("'summary' is required when status is firing")
        if self.started_at is not None and self.started_at.tzinfo is None:
            raise ValueError("'started_at' needs a time zone, e.g. 2026-11-23T09:15:00Z")
        return self


def parse(body: object, *, integration_id: int, now: datetime) -> Parsed:
    """The findings of the good events, and a rejected item per problem of each bad one, at its index."""
    items = body if isinstance(body, list) else [body]
    if len(items) > MAX_EVENTS:
        return Parsed(rejected=[Rejected(None, f"at most {MAX_EVENTS} events per request; this one has {len(items)}")])
    return take_each(
        items, lambda item: finding(GenericEvent.model_validate(item), integration_id=integration_id, now=now), now=now
    )


class Generic(InPath):
    """Good events are kept and bad ones listed by index; 400 when none could be taken."""

    kind = Kind.GENERIC

    def parse(self, body: object, *, integration_id: int, now: datetime) -> Parsed:
        return parse(body, integration_id=integration_id, now=now)

    def answer(self, parsed: Parsed) -> Answer:
        whole = [rejected.reason for rejected in parsed.rejected if rejected.index is None]
        if whole:
            return Answer(400, {"detail": "; ".join(whole)})
        by_index: dict[int, list[str]] = {}
        for rejected in parsed.rejected:
            assert rejected.index is not None
            by_index.setdefault(rejected.index, []).append(rejected.reason)
        listed = [{"index": index, "errors": errors} for index, errors in sorted(by_index.items())]
        return Answer(400 if parsed.refused else 200, {"accepted": len(parsed.findings), "rejected": listed})


def finding(event: GenericEvent, *, integration_id: int, now: datetime) -> Finding:
    labels = dict(event.labels)
    if event.service:
        labels.setdefault("service", event.service)
    return Finding(
        dedup_key=f"generic/{integration_id}/{event.key}",
        source="generic",
        service=event.service,
        severity=event.severity,
        state=State(event.status),
        summary=event.summary.strip() or f"{event.key} resolved",
        observed_at=now,
        started_at=event.started_at,
        labels=labels,
        details={"key": event.key, **event.details},
    )
