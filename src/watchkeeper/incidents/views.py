"""Incidents shaped for reading, the same for the API and the command line."""

from __future__ import annotations

import shlex
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.alerts import routing
from watchkeeper.alerts.models import Alert
from watchkeeper.alerts.schemas import AlertOut
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.lifecycle import Timings
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.schemas import EntryOut, IncidentOut, MovedOut, Outcome, StillFiringOut


def timings_out(found: Timings) -> dict[str, Any]:
    def seconds(span: timedelta | None) -> float | None:
        return None if span is None else span.total_seconds()

    return {
        "incidents": found.incidents,
        "acknowledged": found.acknowledged,
        "resolved": found.resolved,
        "mtta_seconds": seconds(found.mtta),
        "mttr_seconds": seconds(found.mttr),
        "median_tta_seconds": seconds(found.median_tta),
        "median_ttr_seconds": seconds(found.median_ttr),
    }


def detail(incident: Incident, session: Session) -> dict[str, Any]:
    alerts = incidents.alerts_of(incident.id, session=session)
    entries = incidents.timeline(incident.id, session=session)
    return {
        **IncidentOut.model_validate(incident).model_dump(),
        "alerts": [AlertOut.model_validate(a) for a in alerts],
        "timeline": [EntryOut.model_validate(e) for e in entries],
    }


def moved_out(incident: Incident, still_firing: list[Alert]) -> MovedOut:
    def outcome(alert: Alert) -> Outcome:
        if alert.incident_id is not None:
            return "raised"
        if alert.muted is not None:
            return "muted"
        return "flapping"

    return MovedOut(
        **IncidentOut.model_validate(incident).model_dump(),
        still_firing=[
            StillFiringOut(
                alert_id=a.id,
                summary=a.summary,
                outcome=outcome(a),
                incident_id=a.incident_id,
                muted_reason=a.muted_reason,
                silence_matchers=routing.silence_matchers(a.match_labels()),
            )
            for a in still_firing
        ],
    )


def still_firing_lines(moved: MovedOut) -> list[str]:
    """What a person who resolved or closed an incident by hand must hear of the alerts that still fire."""
    lines = []
    for a in moved.still_firing:
        if a.outcome == "flapping":
            lines.append(f"alert {a.alert_id} is flapping ({a.summary}): quiet now, raised again if it fires")
            continue
        then = f"raised again in incident {a.incident_id}" if a.outcome == "raised" else f"muted, {a.muted_reason}"
        lines.append(f"alert {a.alert_id} still fires ({a.summary}): {then}")
        if a.outcome == "raised":
            matchers = " ".join(f"-m {shlex.quote(m)}" for m in a.silence_matchers)
            lines.append(f"  if that is expected, silence it, then resolve incident {a.incident_id}:")
            lines.append(f"    watchkeeper silences add {matchers} --duration 2h --comment 'why'")
    return lines
