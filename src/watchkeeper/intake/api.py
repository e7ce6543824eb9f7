"""Routes other monitors push alerts to. Each is authenticated by its integration key, not a bearer token.

Answers follow what each sender expects: Alertmanager retries on 5xx only, so
a payload that will never work gets 400; a database that is away gets 503
(see the app's handler) and the sender's retry delivers it later.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.finding import Finding, problems
from watchkeeper.auth.api import failed_attempt, refuse_if_throttled
from watchkeeper.db import in_transaction
from watchkeeper.incidents import service as incidents
from watchkeeper.intake import alertmanager, generic, pagerduty
from watchkeeper.intake.errors import PayloadError
from watchkeeper.intake.service import Kind, Known

router = APIRouter(tags=["intake"])
_NOT_KNOWN = (
    "no active {kind} integration has this key; create one with `watchkeeper integrations create --kind {kind}`"
)


def _loads(body: bytes) -> Any:
    """The JSON of a body; ValueError saying why it is none: not JSON, nested
    thousands deep, or a number of thousands of digits (both meant to harm)."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("the body is nested thousands deep") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5,000-digit integer
        raise ValueError(f"the body is not JSON: {exc}") from exc


async def _json(request: Request) -> Any:
    # The body is bounded as it arrives (watchkeeper.web.limits) and parsed on a
    # worker thread, so a large one does not hold up other requests.
    try:
        return await run_in_threadpool(_loads, await request.body())
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


def _integration(request: Request, key: str, kind: Kind) -> Known | None:
    """The integration of `key`; 429 (HTTPException) once its sender's address sent too many bad keys."""
    refuse_if_throttled(request)
    state = request.app.state
    known = state.intake_keys.verify(sessions=state.sessions, key=key, kind=kind, now=state.clock.now())
    if known is None:
        failed_attempt(request)
    return known


def _take(request: Request, findings: list[Finding]) -> None:
    state = request.app.state
    now = state.clock.now()
    in_transaction(state.sessions, lambda s: alerts.record_all(findings, session=s, now=now, config=state.routing))


def _json_body(description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "description": description,
                        "anyOf": [{"type": "object", "additionalProperties": True}, {"type": "array", "items": {}}],
                    }
                }
            },
        }
    }


class AlertmanagerResult(BaseModel):
    status: str = Field(examples=["success"])
    alerts: int = Field(description="alerts taken")
    rejected: list[Any] = Field(description="alerts refused, with their index and why")


class GenericResult(BaseModel):
    accepted: int
    rejected: list[Any] = Field(description="events refused, with their index and errors")


_GENERIC_400 = {
    "responses": {
        "400": {
            "description": "no event could be taken (or the body is not JSON)",
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/GenericResult"},
                            {"$ref": "#/components/schemas/Problem"},
                        ]
                    }
                }
            },
        }
    }
}


@router.post(
    "/api/v1/intake/alertmanager/{key}",
    status_code=status.HTTP_200_OK,
    response_model=AlertmanagerResult,
    responses={404: {"description": "no active integration has this key"}},
    openapi_extra=_json_body("an Alertmanager webhook (payload version 4)"),
)
async def alertmanager_webhook(key: str, request: Request) -> dict[str, Any]:
    """Alertmanager `webhook_configs` receiver (payload version 4); set `send_resolved: true`."""
    integration = await run_in_threadpool(_integration, request, key, Kind.ALERTMANAGER)
    if integration is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_KNOWN.format(kind=Kind.ALERTMANAGER))
    body = await _json(request)
    try:
        found, bad = alertmanager.findings(body, integration_id=integration.id, now=request.app.state.clock.now())
    except PayloadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.errors) from exc
    await run_in_threadpool(_take, request, found)
    return {"status": "success", "alerts": len(found), "rejected": bad}


def _pd_invalid(errors: list[str]) -> JSONResponse:
    return JSONResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status_code=status.HTTP_400_BAD_REQUEST,
    )


class PagerDutyAccepted(BaseModel):
    status: str = Field(examples=["success"])
    message: str = Field(examples=["Event processed"])
    dedup_key: str


class PagerDutyInvalid(BaseModel):
    status: str = Field(examples=["invalid event"])
    message: str = Field(examples=["Event object is invalid"])
    errors: list[str]


_EVENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "a PagerDuty Events API v2 event",
                    "additionalProperties": True,
                },
                "example": {
                    "routing_key": "KEY",
                    "event_action": "trigger",
                    "dedup_key": "sip-trunk-7",
                    "payload": {"summary": "SIP trunk 7 down", "source": "sbc-1", "severity": "critical"},
                },
            }
        },
    }
}


@router.post(
    "/v2/enqueue",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PagerDutyAccepted,
    responses={400: {"model": PagerDutyInvalid, "description": "PagerDuty's answer to an invalid event"}},
    openapi_extra=_EVENT_BODY,
)
async def pagerduty_enqueue(request: Request) -> dict[str, Any] | JSONResponse:
    """PagerDuty Events API v2: trigger, acknowledge and resolve, with a watchkeeper integration key as routing_key."""
    refuse_if_throttled(request)  # the key is in the body: refuse a guesser before reading it
    try:
        # The key is in the body: the body is bounded to PagerDuty's own 512 KB cap first.
        event = pagerduty.parse(await run_in_threadpool(_loads, await request.body()))
    except PayloadError as exc:
        return _pd_invalid(exc.errors)
    except ValueError as exc:
        return _pd_invalid([f"Event object is invalid: {exc}"])
    known = pagerduty.storable(event.routing_key)  # else no key can match, and the lookup could not be made
    integration = await run_in_threadpool(_integration, request, event.routing_key, Kind.PAGERDUTY) if known else None
    if integration is None:
        return _pd_invalid([f"'routing_key' is not known: {_NOT_KNOWN.format(kind=Kind.PAGERDUTY)}"])
    if event.action is not pagerduty.EventAction.ACKNOWLEDGE:
        now = request.app.state.clock.now()
        wrong = problems(pagerduty.finding(event, integration_id=integration.id, now=now), now=now)
        if wrong:
            return _pd_invalid(wrong)
    await run_in_threadpool(_enqueue, request, integration, event)
    return {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key}


def _enqueue(request: Request, integration: Known, event: pagerduty.Event) -> None:
    state = request.app.state
    now = state.clock.now()
    if event.action is pagerduty.EventAction.ACKNOWLEDGE:
        actor = f"pagerduty:{integration.name}"
        in_transaction(
            state.sessions,
            lambda s: incidents.acknowledge_alert(event.internal_key(integration.id), actor=actor, session=s, now=now),
        )
        return
    # A resolve for a key that is not firing is accepted and dropped, as PagerDuty does.
    _take(request, [pagerduty.finding(event, integration_id=integration.id, now=now)])


@router.post(
    "/api/v1/intake/generic/{key}",
    response_model=GenericResult,
    responses={404: {"description": "no active integration has this key"}},
    openapi_extra=_json_body("one event or a list of events") | _GENERIC_400,
)
async def generic_webhook(key: str, request: Request) -> JSONResponse:
    """Generic JSON: one event or a list (docs/alerts.md has the shape). Good events are kept, bad ones listed."""
    integration = await run_in_threadpool(_integration, request, key, Kind.GENERIC)
    if integration is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_KNOWN.format(kind=Kind.GENERIC))
    try:
        good, bad = generic.parse(await _json(request))
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    now = request.app.state.clock.now()
    found = []
    for index, event in good:
        candidate = generic.finding(event, integration_id=integration.id, now=now)
        wrong = problems(candidate, now=now)
        if wrong:
            bad.append({"index": index, "errors": wrong})
        else:
            found.append(candidate)
    await run_in_threadpool(_take, request, found)
    code = status.HTTP_400_BAD_REQUEST if bad and not found else status.HTTP_200_OK
    return JSONResponse({"accepted": len(found), "rejected": sorted(bad, key=lambda b: b["index"])}, status_code=code)
