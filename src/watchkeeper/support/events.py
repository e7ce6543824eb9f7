"""What the desk tells the layers above it (see watchkeeper.bus): paging and reports, when they come."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CaseBreached:
    """A case's SLA clock passed its target; the case went up one escalation level."""

    case_id: int
    customer_id: int
    target: str  # first_response, resolution, or update@<the reply it waited on>
    priority: str
    escalation_level: int
    at: datetime
