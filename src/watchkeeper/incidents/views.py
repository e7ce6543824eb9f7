"""Incidents shaped for reading, the same for the API and the command line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.alerts.schemas import AlertOut
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.schemas import EntryOut, IncidentOut


def timings_out(found: incidents.Timings) -> dict[str, Any]:
    def seconds(span: timedelta | None) -> float | None:
        return None if span is None else span.total_seconds()

    return {"incidents": found.incidents, "acknowledged": found.acknowledged, "resolved": found.resolved,
            "mtta_seconds": seconds(found.mtta), "mttr_seconds": seconds(found.mttr),
            "median_tta_seconds": seconds(found.median_tta),
            "median_ttr_seconds": seconds(found.median_ttr)}  # fmt: skip


def detail(incident: Incident, session: Session) -> dict[str, Any]:
    alerts = incidents.alerts_of(incident.id, session=session)
    entries = incidents.timeline(incident.id, session=session)
    return {**IncidentOut.model_validate(incident).model_dump(),
            "alerts": [AlertOut.model_validate(a) for a in alerts],
            "timeline": [EntryOut.model_validate(e) for e in entries]}  # fmt: skip
