"""The one shape every detector and intake produces. Pure.

Everything downstream (alerts, incidents, paging) speaks only of findings, so
a new detector never touches routing or incidents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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
