"""The one shape every detector and intake produces. Pure.

Everything downstream (alerts, incidents, paging) speaks only of findings, so
a new detector never touches routing or incidents. It sits in the core, below
the signals that make findings and the alerts that keep them, so that neither
has to import the other to speak of one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from watchkeeper.inputs import is_unicode


class Severity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class State(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Urgency(StrEnum):
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True)
class Finding:
    dedup_key: str
    source: str  # "feeds", "alertmanager", ...
    service: str | None
    severity: Severity
    state: State
    summary: str
    observed_at: datetime
    started_at: datetime | None = None  # when the problem is believed to have begun
    labels: dict[str, str] = field(default_factory=dict)
    urgency: Urgency = Urgency.HIGH
    details: dict[str, Any] = field(default_factory=dict)  # annotations, custom details, links
    stage: str | None = None  # the service's stage when the finder knows it; else it is looked up


# What a finding from outside may carry: a sender's values end up in text and
# JSON columns and in every list of alerts, so they are bounded.
KEY_LIMIT = 300  # alerts.dedup_key is a String(300)
TEXT_LIMIT = 1024  # a label value, a service name
DETAILS_DEPTH = 16  # nested objects in details; pydantic refuses to serialise past a few hundred
DETAILS_BYTES = 256 * 1024
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def problems(finding: Finding, *, now: datetime) -> list[str]:
    """What makes a finding from another system unfit to store, each naming
    the field; empty when it is fit. Pure.

    Text may hold no NUL (PostgreSQL refuses one) nor a lone surrogate (not
    Unicode, so not storable); times must be in UTC's range and not before
    2000; details must nest no deeper than DETAILS_DEPTH.
    """
    found: list[str] = []
    texts = [
        ("key", finding.dedup_key, KEY_LIMIT),
        ("summary", finding.summary, None),
        ("service", finding.service or "", TEXT_LIMIT),
    ]
    texts += [(f"labels.{name[:40]}", name, TEXT_LIMIT) for name in finding.labels]
    texts += [(f"labels.{name[:40]}", value, TEXT_LIMIT) for name, value in finding.labels.items()]
    for where, text, limit in texts:
        if not isinstance(text, str):
            found.append(f"'{where}' must be text")
        elif limit is not None and len(text) > limit:
            found.append(f"'{where}' is longer than {limit} characters")
        elif "\x00" in text or not is_unicode(text):
            found.append(f"'{where}' holds a NUL or text that is not Unicode")
    for where, moment in (("started_at", finding.started_at), ("observed_at", finding.observed_at)):
        if moment is None:
            continue
        if moment.tzinfo is None:
            found.append(f"'{where}' needs a time zone, e.g. 2026-11-23T09:15:00Z")
            continue
        try:
            in_utc = moment.astimezone(UTC)
        except OverflowError:
            found.append(f"'{where}' is out of range")
            continue
        if not EARLIEST <= in_utc <= now + timedelta(days=1):
            found.append(f"'{where}' {in_utc:%Y-%m-%dT%H:%M:%SZ} is before 2000 or more than a day ahead")
    try:
        encoded = json.dumps(finding.details, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        found.append("'details' cannot be stored as JSON")
    else:
        if _depth(finding.details) > DETAILS_DEPTH:
            found.append(f"'details' nest deeper than {DETAILS_DEPTH} levels")
        elif len(encoded) > DETAILS_BYTES or "\\u0000" in encoded or not is_unicode(encoded):
            found.append(
                f"'details' are larger than {DETAILS_BYTES // 1024} KB, or hold a NUL or text that is not Unicode"
            )
    return found


def _depth(value: object, level: int = 0) -> int:
    """How deep `value` nests, counting no further than one past the limit."""
    if level > DETAILS_DEPTH or not isinstance(value, dict | list):
        return level
    children = value.values() if isinstance(value, dict) else value
    return max((_depth(child, level + 1) for child in children), default=level + 1)
