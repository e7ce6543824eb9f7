"""Routes other monitors push alerts to. Each is authenticated by its integration key, not a bearer token.

Answers follow what each sender expects: Alertmanager retries on 5xx only, so
a payload that will never work gets 400; a database that is away gets 503
(see the app's handler) and the sender's retry delivers it later.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.alerts import service as alerts
from watchkeeper.db import in_transaction
from watchkeeper.incidents import service as incidents
from watchkeeper.intake.pagerduty import storable
from watchkeeper.intake.parser import Answer, KeyInBody, Parsed, Parser
from watchkeeper.intake.registry import parser
from watchkeeper.intake.service import Kind, Known
from watchkeeper.web.tokens import failed_attempt, refuse_if_throttled

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
    return await run_in_threadpool(_loads, await request.body())


def _integration(request: Request, key: str, kind: Kind) -> Known | None:
    """The integration of `key`; 429 (HTTPException) once its sender's address sent too many bad keys."""
    refuse_if_throttled(request)
    state = request.app.state
    known: Known | None = state.intake_keys.verify(sessions=state.sessions, key=key, kind=kind, now=state.clock.now())
    if known is None:
        failed_attempt(request)
    return known


def _respond(answer: Answer) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.status_code)


async def _take(request: Request, intake: Parser, integration: Known, body: object) -> JSONResponse:
    """Parse `body` as sent through `integration`, record what it holds, and answer as its sender expects."""
    parsed = intake.parse(body, integration_id=integration.id, now=request.app.state.clock.now())
    if not parsed.refused and (parsed.findings or parsed.acknowledged):
        await run_in_threadpool(_record, request, f"{intake.kind}:{integration.name}", parsed)
    return _respond(intake.answer(parsed))


def _record(request: Request, actor: str, parsed: Parsed) -> None:
    state = request.app.state
    now = state.clock.now()

    def work(session: Session) -> None:
        alerts.record_all(parsed.findings, session=session, now=now, config=state.routing)
        for dedup_key in parsed.acknowledged:
            incidents.acknowledge_alert(dedup_key, actor=actor, session=session, now=now)

    in_transaction(state.sessions, work)


async def _webhook(kind: Kind, key: str, request: Request) -> JSONResponse:
    """A sender whose URL carries its integration key: the key is checked before the body is read."""
    intake = parser(kind)
    integration = await run_in_threadpool(_integration, request, key, kind)
    if integration is None:
        return _respond(intake.unknown(_NOT_KNOWN.format(kind=kind)))
    try:
        body = await _json(request)
    except ValueError as exc:
        return _respond(intake.unreadable(str(exc)))
    return await _take(request, intake, integration, body)


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
async def alertmanager_webhook(key: str, request: Request) -> JSONResponse:
    """Alertmanager `webhook_configs` receiver (payload version 4); set `send_resolved: true`."""
    return await _webhook(Kind.ALERTMANAGER, key, request)


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
async def pagerduty_enqueue(request: Request) -> JSONResponse:
    """PagerDuty Events API v2: trigger, acknowledge and resolve, with a watchkeeper integration key as routing_key."""
    refuse_if_throttled(request)  # the key is in the body: refuse a guesser before reading it
    intake = parser(Kind.PAGERDUTY)
    assert isinstance(intake, KeyInBody)
    try:
        # The key is in the body: the body is bounded to PagerDuty's own 512 KB cap first.
        body = await run_in_threadpool(_loads, await request.body())
    except ValueError as exc:
        return _respond(intake.unreadable(str(exc)))
    key = intake.key(body)
    if isinstance(key, Parsed):
        return _respond(intake.answer(key))
    known = storable(key)  # else no key can match, and the lookup could not be made
    integration = await run_in_threadpool(_integration, request, key, Kind.PAGERDUTY) if known else None
    if integration is None:
        return _respond(intake.unknown(_NOT_KNOWN.format(kind=Kind.PAGERDUTY)))
    return await _take(request, intake, integration, body)


@router.post(
    "/api/v1/intake/generic/{key}",
    response_model=GenericResult,
    responses={404: {"description": "no active integration has this key"}},
    openapi_extra=_json_body("one event or a list of events") | _GENERIC_400,
)
async def generic_webhook(key: str, request: Request) -> JSONResponse:
    """Generic JSON: one event or a list (docs/alerts.md has the shape). Good events are kept, bad ones listed."""
    return await _webhook(Kind.GENERIC, key, request)
