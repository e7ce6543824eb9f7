"""Prometheus Alertmanager webhook payloads (version 4) to findings. Pure.

Alertmanager sends a group of alerts per request and retries on 5xx only, so
a payload it cannot fix by resending is refused with 400 and a message. Each
alert of a group is checked on its own: a bad one is listed and the good
ones are kept, for a resend would not bring them back.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from watchkeeper.finding import Finding, Severity, State
from watchkeeper.intake.errors import messages
from watchkeeper.intake.parser import Answer, InPath, Parsed, Rejected, rejections, take_each
from watchkeeper.intake.service import Kind

_SEVERITY = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "high": Severity.CRITICAL,
    "error": Severity.ERROR,
    "major": Severity.ERROR,
    "warning": Severity.WARNING,
    "minor": Severity.WARNING,
    "info": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
}


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str | None = None


class AmPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = "4"
    receiver: str = ""
    status: str = ""
    alerts: list[Any]  # each checked on its own (AmAlert)
    groupKey: str = ""
    externalURL: str = ""


def severity(labels: dict[str, str]) -> Severity:
    """A `severity` label in any of the usual spellings; error when absent, as Alertmanager's PagerDuty default."""
    return _SEVERITY.get(labels.get("severity", "").lower(), Severity.ERROR)


def parse(body: object, *, integration_id: int, now: datetime) -> Parsed:
    """The findings of the payload's good alerts, and a rejected item for each bad one, or for the payload
    as a whole when it is not one."""
    try:
        payload = AmPayload.model_validate(body)
    except ValidationError as exc:
        return Parsed(rejected=rejections(messages(exc)))
    if payload.version != "4":
        return Parsed(
            rejected=[
                Rejected(None, f"version: {payload.version!r} is not supported; watchkeeper takes webhook version 4")
            ]
        )
    return take_each(
        payload.alerts,
        lambda item: _finding(AmAlert.model_validate(item), payload, integration_id, now),
        now=now,
        within="alerts",
    )


class Alertmanager(InPath):
    """Alertmanager's `webhook_configs`: 200 with what was taken; 400, which it does not retry, when nothing was."""

    kind = Kind.ALERTMANAGER

    def parse(self, body: object, *, integration_id: int, now: datetime) -> Parsed:
        return parse(body, integration_id=integration_id, now=now)

    def answer(self, parsed: Parsed) -> Answer:
        lines = [rejected.reason for rejected in parsed.rejected]
        if parsed.refused:
            return Answer(400, {"detail": lines})
        return Answer(200, {"status": "success", "alerts": len(parsed.findings), "rejected": lines})


def _finding(alert: AmAlert, payload: AmPayload, integration_id: int, now: datetime) -> Finding:
    labels = alert.labels
    fingerprint = alert.fingerprint or hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
    resolved = alert.status == "resolved"
    ended = alert.endsAt if resolved and alert.endsAt is not None and alert.endsAt.year > 1 else None
    name = labels.get("alertname", "alert")
    where = labels.get("instance") or labels.get("job") or ""
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or f"{name} {where}".strip()
    return Finding(
        dedup_key=f"alertmanager/{integration_id}/{fingerprint}",
        source="alertmanager",
        service=labels.get("service") or None,
        severity=severity(labels),
        state=State.RESOLVED if resolved else State.FIRING,
        summary=summary,
        observed_at=min(ended, now) if ended else now,
        started_at=alert.startsAt,
        labels=dict(labels),
        details={
            "annotations": alert.annotations,
            "generator_url": alert.generatorURL,
            "external_url": payload.externalURL,
            "receiver": payload.receiver,
            "fingerprint": fingerprint,
        },
    )
