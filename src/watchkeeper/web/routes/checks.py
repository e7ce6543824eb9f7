"""Heartbeats as Healthchecks takes them, and /api/v1/checks.

The ping routes need no bearer token: the check's uuid (or its ping key) in
the URL is the secret, as with Healthchecks, so a job that pings Healthchecks
changes only its base URL. They answer `OK` as text; an unknown uuid gets
404 `not found`, stores nothing, and counts against its sender's address
like a bad token. The body is read only once the check is known; its first
100 KB is kept. A ping by uuid without a body (most are) takes one
transaction: the check is found, locked and pinged at once; on PostgreSQL,
when it finds nothing, one statement (service.ping_at_once).
"""

from __future__ import annotations

import uuid as uuids
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, status
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.alerts import service as alerts
from watchkeeper.auth.customers import get_customer
from watchkeeper.checks import pbxes, service
from watchkeeper.checks.models import Check, PingKind
from watchkeeper.checks.schedule import Schedule
from watchkeeper.checks.schemas import CheckIn, CheckOut, CheckShown, NewCheck, ProbeIn
from watchkeeper.db import in_transaction
from watchkeeper.web.deps import STAFF, SessionDep, Tx
from watchkeeper.web.tokens import failed_attempt, refuse_if_throttled

pings = APIRouter(prefix="/ping", tags=["pings"])
router = APIRouter(prefix="/api/v1/checks", tags=["checks"], dependencies=STAFF)

ACTIONS = {"start": PingKind.START, "fail": PingKind.FAIL, "log": PingKind.LOG}
PLAIN = {"content": {"text/plain": {"schema": {"type": "string", "example": "OK"}}}}
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the ping is stored", **PLAIN},
    400: {"description": "an exit status over 255, or a rid that is no uuid"},
    404: {"description": "no check has this uuid (or slug under this ping key); nothing is stored"},
    409: {"description": "the check is a probe (http, tcp, tls, dns, sip): it is run, not pinged; nothing is stored"},
}
SLUG_ANSWERS: dict[int | str, dict[str, Any]] = {
    **ANSWERS,
    201: {"description": "with ?create=1: the check is made, and the ping stored", **PLAIN},
}
METHODS = ["GET", "POST"]


def _plain(text: str, code: int = 200) -> PlainTextResponse:
    return PlainTextResponse(text, status_code=code, headers={"Ping-Body-Limit": str(service.BODY_LIMIT)})


def _action(action: str | None) -> tuple[PingKind, int | None] | None:
    """The kind and exit status an action segment says; None when it says none."""
    if action is None:
        return PingKind.SUCCESS, None
    if action in ACTIONS:
        return ACTIONS[action], None
    if action.isdigit() and len(action) <= 6:
        return PingKind.SUCCESS, int(action)
    return None


def _is_uuid(text: str) -> bool:
    try:
        uuids.UUID(text)
    except ValueError:
        return False
    return True


def _known(request: Request, find: Any) -> Check | None:
    """The check `find(session, now)` names; counted as a bad credential when there is none."""
    refuse_if_throttled(request)
    state = request.app.state
    check: Check | None = in_transaction(state.sessions, lambda session: find(session, state.clock.now()))
    if check is None:
        failed_attempt(request)
    return check


class _Probed(Exception):
    """A ping to a probe check: refused, and nothing of it stored."""


def _refusal(check: Check) -> str:
    kind = f"an {check.kind}" if check.kind == "http" else f"a {check.kind}"
    return (
        f"check {check.name} is {kind} probe: watchkeeper runs it every {check.period_seconds} s "
        "and takes no pings; ping a heartbeat check instead"
    )


def _record(request: Request, code: str, kind: PingKind, exit_status: int | None, body: bytes) -> bool:
    """Store the ping of the check of uuid `code`, locked, in one transaction; False when none has it."""
    state = request.app.state
    rid = request.query_params.get("rid")
    forwarded = request.headers.get("x-forwarded-for", "")
    source = forwarded.split(",")[0].strip() or (request.client.host if request.client else "")

    user_agent = request.headers.get("user-agent", "")
    if not body:
        # Most pings: one statement, when it finds nothing (service.ping_at_once).
        def at_once(session: Session) -> bool:
            return service.ping_at_once(
                code,
                kind,
                session=session,
                now=state.clock.now(),
                exit_status=exit_status,
                rid=rid,
                user_agent=user_agent,
                source=source,
            )

        if in_transaction(state.sessions, at_once):
            return True

    def work(session: Session) -> bool:
        now = state.clock.now()
        pinged = service.ping_uuid(
            code,
            kind,
            session=session,
            now=now,
            body=body,
            exit_status=exit_status,
            rid=rid,
            user_agent=user_agent,
            source=source,
        )
        if pinged is None:
            return False
        check = session.get(Check, pinged.ping.check_id)  # the one just locked: no query
        if check is not None and service.is_probe(check):
            raise _Probed(_refusal(check))  # rolls the ping back: nothing is stored
        alerts.record_all(pinged.findings, session=session, now=now, config=state.routing)
        return True

    return in_transaction(state.sessions, work)


def _has_body(request: Request) -> bool:
    return request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers


async def _ping(
    request: Request, find: Any, action: str | None, made: list[bool] | None = None, *, code: str | None = None
) -> PlainTextResponse:
    """The ping `action` says, for the check `find` finds (or, when known, of uuid `code`)."""
    said = _action(action)
    if said is None:
        return _plain("not found", status.HTTP_404_NOT_FOUND)
    kind, exit_status = said
    if exit_status is not None and exit_status > 255:
        return _plain("invalid url format", status.HTTP_400_BAD_REQUEST)
    rid = request.query_params.get("rid")
    if rid is not None and not _is_uuid(rid):
        return _plain("invalid uuid format", status.HTTP_400_BAD_REQUEST)
    if code is not None and not _has_body(request):
        # No body to hold back: the check is found, locked and pinged in one transaction.
        refuse_if_throttled(request)
        try:
            if not await run_in_threadpool(_record, request, code, kind, exit_status, b""):
                failed_attempt(request)
                return _plain("not found", status.HTTP_404_NOT_FOUND)
        except _Probed as refused:
            return _plain(str(refused), status.HTTP_409_CONFLICT)
        return _plain("OK")
    check = await run_in_threadpool(_known, request, find)
    if check is None:
        return _plain("not found", status.HTTP_404_NOT_FOUND)
    if service.is_probe(check):
        return _plain(_refusal(check), status.HTTP_409_CONFLICT)
    body = await request.body()
    await run_in_threadpool(_record, request, check.uuid, kind, exit_status, body)  # False: removed meanwhile
    return _plain("Created", status.HTTP_201_CREATED) if made and any(made) else _plain("OK")


def _by_uuid(code: str) -> Any:
    return lambda session, _now: service.by_uuid(code, session=session) if _is_uuid(code) else None


async def ping(code: str, request: Request) -> PlainTextResponse:
    """A success, as `GET|POST /ping/<uuid>` of Healthchecks."""
    return await _ping(request, _by_uuid(code), None, code=code if _is_uuid(code) else None)


async def ping_action(code: str, action: str, request: Request) -> PlainTextResponse:
    """`/ping/<uuid>/start|fail|log|<exit status>`, or a success by slug: `/ping/<ping key>/<slug>`."""
    if _is_uuid(code):
        return await _ping(request, _by_uuid(code), action, code=code)
    return await _by_slug(request, code, action, None)


async def ping_slug_action(key: str, slug: str, action: str, request: Request) -> PlainTextResponse:
    """`/ping/<ping key>/<slug>/start|fail|log|<exit status>`."""
    return await _by_slug(request, key, slug, action)


# GET and POST alike, as Healthchecks takes them; one operation (and id) each.
for _path, _route, _answers in (
    ("/{code}", ping, ANSWERS),
    ("/{code}/{action}", ping_action, SLUG_ANSWERS),
    ("/{key}/{slug}/{action}", ping_slug_action, SLUG_ANSWERS),
):
    for _method in METHODS:
        pings.add_api_route(
            _path,
            _route,
            methods=[_method],
            operation_id=f"{_route.__name__}_{_method.lower()}",
            response_class=PlainTextResponse,
            responses=_answers,
        )


async def _by_slug(request: Request, key: str, slug: str, action: str | None) -> PlainTextResponse:
    create = request.query_params.get("create") == "1"
    made: list[bool] = []

    def find(session: Session, now: datetime) -> Check | None:
        existing = service.by_slug(key, slug, session=session, now=now)
        if existing is not None or not create:
            return existing
        check = service.by_slug(key, slug, session=session, now=now, create=True)
        made.append(check is not None)
        return check

    if _action(action) is None:
        return _plain("not found", status.HTTP_404_NOT_FOUND)
    return await _ping(request, find, action, made)


# -- /api/v1/checks ------------------------------------------------------------------------


@router.get("", response_model=list[CheckOut])
def list_checks(session: SessionDep) -> list[dict[str, Any]]:
    return [service.check_view(c) for c in service.list_checks(session=session)]


@router.post(
    "",
    response_model=CheckOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "no such customer"},
        409: {"description": "a check of this name exists"},
        422: {"description": "an option the kind does not take, a URL that is not one, a port out of range..."},
    },
)
def add_check(body: Annotated[NewCheck, Body()], tx: Tx) -> dict[str, Any]:
    """A heartbeat (no `kind`, or `heartbeat`), or a probe: `kind` http, tcp, tls, dns or sip with its options."""

    def work(session: Session, now: datetime) -> dict[str, Any]:
        customer_id = get_customer(body.customer, session=session).id if body.customer else None
        if isinstance(body, ProbeIn):
            probe = service.add_probe(
                body.name,
                body.kind,
                body.options(),
                session=session,
                now=now,
                interval=timedelta(seconds=body.interval_seconds),
                fail_after=body.fail_after,
                recover_after=body.recover_after,
                service=body.service,
                customer_id=customer_id,
                labels=body.labels,
            )
            return service.check_view(probe)
        check = service.add(
            body.name,
            session=session,
            now=now,
            schedule=_schedule(body),
            slug=body.slug,
            ping_key=body.ping_key,
            service=body.service,
            customer_id=customer_id,
            labels=body.labels,
            success_keywords=body.success_keywords,
            failure_keywords=body.failure_keywords,
        )
        return service.check_view(check)

    return tx.run(work)


def _schedule(body: CheckIn) -> Schedule:
    return Schedule(
        kind=body.schedule,
        period=timedelta(seconds=body.period_seconds),
        grace=timedelta(seconds=body.grace_seconds),
        expression=body.expression,
        tz=body.tz,
    )


@router.get("/{ref}", response_model=CheckShown)
def show_check(ref: str, session: SessionDep) -> dict[str, Any]:
    check = service.get(ref, session=session)
    shown = service.check_view(check)
    shown["pings"] = [service.ping_view(p) for p in service.last_pings(check, session=session, limit=20)]
    shown["results"] = [service.result_view(r) for r in service.last_results(check, session=session, limit=20)]
    return shown


@router.post("/{ref}/pause", response_model=CheckOut)
def pause_check(ref: str, request: Request, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        check = service.get(ref, session=session)
        findings = pbxes.pause(check, session=session, now=now)
        alerts.record_all(findings, session=session, now=now, config=request.app.state.routing)
        return service.check_view(check)

    return tx.run(work)


@router.post("/{ref}/resume", response_model=CheckOut)
def resume_check(ref: str, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        check = service.get(ref, session=session)
        pbxes.resume(check, session=session, now=now)
        return service.check_view(check)

    return tx.run(work)


@router.delete("/{ref}", status_code=status.HTTP_204_NO_CONTENT)
def remove_check(ref: str, request: Request, tx: Tx) -> None:
    def work(session: Session, now: datetime) -> None:
        check = service.get(ref, session=session)
        findings = service.remove(check, session=session, now=now)
        alerts.record_all(findings, session=session, now=now, config=request.app.state.routing)

    tx.run(work)
