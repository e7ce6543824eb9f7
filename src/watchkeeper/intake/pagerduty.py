"""PagerDuty Events API v2 events to findings. Pure.

Any tool with a PagerDuty integration can point at watchkeeper's `/v2/enqueue`
with a watchkeeper integration key as `routing_key`. The answers and error
shapes are PagerDuty's, so the senders' own error handling keeps working.

PagerDuty has no labels; the event's source becomes `instance` and its class
(or else component) becomes `alertname`, so such alerts group like other
external alerts. A `service` in custom_details ties one to a watchkeeper service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from watchkeeper.finding import Finding, Severity, State, problems
from watchkeeper.inputs import is_unicode
from watchkeeper.intake.errors import PayloadError
from watchkeeper.intake.parser import Answer, Parsed, rejections
from watchkeeper.intake.service import Kind

SUMMARY_LIMIT = 1024
KEY_LIMIT = 255


class EventAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Event:
    routing_key: str
    action: EventAction
    dedup_key: str  # as the sender knows it
    payload: dict[str, Any]

    def internal_key(self, integration_id: int) -> str:
        return internal_key(integration_id, self.dedup_key)


def internal_key(integration_id: int, dedup_key: str) -> str:
    # Dedup keys are the sender's and only unique per routing key, as in PagerDuty.
    return f"pagerduty/{integration_id}/{dedup_key}"


def storable(text: str) -> bool:
    # PostgreSQL refuses NUL in text; a lone surrogate ("\ud800" in JSON) is not UTF-8 at all.
    return "\x00" not in text and is_unicode(text)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def read(body: object) -> Event:
    """Check an event as PagerDuty does; PayloadError lists every problem, naming the field."""
    if not isinstance(body, dict):
        raise PayloadError(["Event object is invalid: the body must be a JSON object"])
    errors: list[str] = []
    routing_key = _text(body.get("routing_key"))
    if not routing_key:
        errors.append(_blank_or_wrong("routing_key", body.get("routing_key")))
    action_text = _text(body.get("event_action"))
    action = EventAction(action_text) if action_text in EventAction.__members__.values() else None
    if action is None:
        errors.append("'event_action' is missing or invalid (must be one of trigger, acknowledge, resolve)")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and (
        not isinstance(dedup_key, str) or len(dedup_key) > KEY_LIMIT or not storable(dedup_key)
    ):
        errors.append(f"'dedup_key' must be a string of at most {KEY_LIMIT} characters, without NUL")
    payload = body.get("payload")
    if action is EventAction.TRIGGER:
        errors.extend(_check_payload(payload))
    elif action is not None and not _text(dedup_key):
        errors.append("'dedup_key' is missing or blank (acknowledge and resolve need the key of the trigger)")
    if errors:
        raise PayloadError(errors)
    assert action is not None
    body_payload = payload if isinstance(payload, dict) else {}
    return Event(routing_key, action, _text(dedup_key) or uuid.uuid4().hex, body_payload)


def _check_payload(payload: object) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = [
        _blank_or_wrong(f"payload.{name}", payload.get(name))
        for name in ("summary", "source", "severity")
        if not _text(payload.get(name))
    ]
    severity = _text(payload.get("severity"))
    if severity and severity not in Severity.__members__.values():
        errors.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
    if payload.get("timestamp") is not None and _timestamp(payload["timestamp"]) is None:
        errors.append("'payload.timestamp' is invalid (must be an ISO 8601 timestamp with a time zone)")
    if payload.get("custom_details") is not None and not isinstance(payload["custom_details"], dict | str | list):
        errors.append("'payload.custom_details' must be an object")
    return errors


def _blank_or_wrong(name: str, value: object) -> str:
    if value is None or isinstance(value, str):
        return f"'{name}' is missing or blank"
    return f"'{name}' must be a string, not {type(value).__name__} {value!r}"[:200]


def _severity(value: object) -> Severity:
    """The event's severity; error for a resolve that carries none, or a wrong one (resolves are not checked)."""
    text = _text(value)
    return Severity(text) if text in Severity.__members__.values() else Severity.ERROR


def _timestamp(value: object) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def finding(event: Event, *, integration_id: int, now: datetime) -> Finding:
    """The finding a trigger or resolve event stands for."""
    payload = event.payload
    details = payload.get("custom_details")
    service = details.get("service") if isinstance(details, dict) and isinstance(details.get("service"), str) else None
    labels = {name: str(payload[name]) for name in ("component", "group", "class") if payload.get(name)}
    labels["instance"] = _text(payload.get("source"))
    labels["alertname"] = labels.get("class") or labels.get("component") or "pagerduty"
    summary = _text(payload.get("summary"))[:SUMMARY_LIMIT]
    return Finding(
        dedup_key=event.internal_key(integration_id),
        source="pagerduty",
        service=service,
        severity=_severity(payload.get("severity")),
        state=State.RESOLVED if event.action is EventAction.RESOLVE else State.FIRING,
        summary=summary or f"resolved by a resolve event for {event.dedup_key}",
        observed_at=now,
        started_at=_timestamp(payload.get("timestamp")),
        labels={k: v for k, v in labels.items() if v},
        details={
            "dedup_key": event.dedup_key,
            "custom_details": details,
            "links": payload.get("links"),
            "images": payload.get("images"),
        },
    )


def parse(body: object, *, integration_id: int, now: datetime) -> Parsed:
    """A trigger or resolve as a finding, an acknowledge as the key it acknowledges; or why the event is refused.

    A resolve or acknowledge for a key that is not firing is taken and comes to
    nothing, as PagerDuty does.
    """
    try:
        event = read(body)
    except PayloadError as exc:
        return Parsed(rejected=rejections(exc.errors))
    if event.action is EventAction.ACKNOWLEDGE:
        return Parsed(acknowledged=[event.internal_key(integration_id)], reference=event.dedup_key)
    found = finding(event, integration_id=integration_id, now=now)
    wrong = problems(found, now=now)
    if wrong:
        return Parsed(rejected=rejections(wrong), reference=event.dedup_key)
    return Parsed(findings=[found], reference=event.dedup_key)


def _invalid(errors: list[str]) -> Answer:
    return Answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})


class PagerDuty:
    """PagerDuty's answers: 202 with the event's dedup_key, or 400 `invalid event` listing every problem."""

    kind = Kind.PAGERDUTY

    def key(self, body: object) -> str | Parsed:
        try:
            return read(body).routing_key
        except PayloadError as exc:
            return Parsed(rejected=rejections(exc.errors))

    def parse(self, body: object, *, integration_id: int, now: datetime) -> Parsed:
        return parse(body, integration_id=integration_id, now=now)

    def answer(self, parsed: Parsed) -> Answer:
        if parsed.rejected:
            return _invalid([rejected.reason for rejected in parsed.rejected])
        return Answer(202, {"status": "success", "message": "Event processed", "dedup_key": parsed.reference})

    def unreadable(self, reason: str) -> Answer:
        return _invalid([f"Event object is invalid: {reason}"])

    def unknown(self, reason: str) -> Answer:
        return _invalid([f"'routing_key' is not known: {reason}"])
