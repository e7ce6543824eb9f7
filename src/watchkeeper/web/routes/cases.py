"""HTTP routes for cases. Staff see and do everything; a customer token sees its own customer's cases,
without internal notes, can open cases and write on them, and reads any other case as missing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from watchkeeper.support import service as desk
from watchkeeper.support.models import Case
from watchkeeper.support.sla import CaseStatus, ClockState, Priority, Target
from watchkeeper.support.views import case_out
from watchkeeper.web.deps import STAFF as Staff
from watchkeeper.web.deps import Now, Principal, RowId, SessionDep, Tx, Who

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


class CaseIn(BaseModel):
    customer: str | None = Field(default=None, description="staff only; a customer token opens its own")
    title: str = Field(min_length=1, max_length=500)
    priority: Priority = Priority.P3
    description: str = Field(default="", max_length=8000)


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=8000)


class StatusIn(BaseModel):
    status: CaseStatus


class PriorityIn(BaseModel):
    priority: Priority


class AssignIn(BaseModel):
    assignee: str | None = Field(description="a staff user's name (GET /api/v1/users); null unassigns")


class ClockOut(BaseModel):
    target: Target
    state: ClockState
    due_at: datetime | None
    warn_at: datetime | None
    breached_at: datetime | None
    elapsed_minutes: float = Field(description="business minutes counted so far")
    limit_minutes: float = Field(description="the plan's target, in business minutes")


class EntryOut(BaseModel):
    at: datetime
    kind: str
    author: str
    text: str


class CaseOut(BaseModel):
    id: int
    customer: str
    title: str
    priority: Priority
    status: CaseStatus
    assignee: str | None
    created_at: datetime
    escalation_level: int
    incident_ids: list[int]
    due_at: datetime | None
    clocks: list[ClockOut]


class CaseDetail(CaseOut):
    log: list[EntryOut] = Field(description="the work log, oldest first; a customer token reads no internal notes")


def _visible(case_id: int, who: Principal, session: Session) -> Case:
    case = session.get(Case, case_id)
    if case is None or (not who.staff and case.customer_id != who.customer_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    return case


@router.get("", response_model=list[CaseOut])
def list_cases(
    now: Now,
    session: SessionDep,
    who: Who,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    rows = desk.list_cases(session=session, status=status_, limit=limit, customer=None if who.staff else who.customer)
    return [case_out(c, who, session, now) for c in rows]


@router.get("/{case_id}", response_model=CaseDetail)
def show_case(case_id: RowId, now: Now, session: SessionDep, who: Who) -> dict[str, Any]:
    return case_out(_visible(case_id, who, session), who, session, now, log=True)


def _write(tx: Tx, who: Principal, work: Callable[[Session, datetime], Case]) -> dict[str, Any]:
    return tx.run(lambda session, now: case_out(work(session, now), who, session, now, log=True))


@router.post(
    "",
    response_model=CaseDetail,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such customer or service"}},
)
def open_case(body: CaseIn, tx: Tx, who: Who) -> dict[str, Any]:
    if not who.staff and body.customer not in (None, who.customer):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a customer's token opens cases for its own customer only")
    customer = body.customer if who.staff else who.customer
    if customer is None:
        raise HTTPException(422, "say which customer the case is for")
    return _write(
        tx,
        who,
        lambda s, now: desk.open_case(
            session=s,
            now=now,
            customer=customer,
            title=body.title,
            priority=body.priority,
            author=who.name,
            description=body.description,
        ),
    )


@router.post("/{case_id}/replies", response_model=CaseDetail)
def reply(case_id: RowId, body: TextIn, tx: Tx, who: Who) -> dict[str, Any]:
    """Staff: a public reply (answers the response clocks). Customer: their own words on the case."""

    def work(s: Session, now: datetime) -> Case:
        case = _visible(case_id, who, s)
        if who.staff:
            desk.reply(case.id, body.text, public=True, author=who.name, session=s, now=now)
        else:
            desk.customer_reply(case.id, body.text, author=f"customer:{who.name}", session=s, now=now)
        return case

    return _write(tx, who, work)


@router.post("/{case_id}/notes", response_model=CaseDetail, dependencies=Staff)
def note(case_id: RowId, body: TextIn, tx: Tx, who: Who) -> dict[str, Any]:
    """An internal note: customers never see it."""

    def work(s: Session, now: datetime) -> Case:
        desk.reply(case_id, body.text, public=False, author=who.name, session=s, now=now)
        return desk.get_case(case_id, session=s)

    return _write(tx, who, work)


@router.post("/{case_id}/status", response_model=CaseDetail, dependencies=Staff)
def set_status(case_id: RowId, body: StatusIn, tx: Tx, who: Who) -> dict[str, Any]:
    return _write(tx, who, lambda s, now: desk.set_status(case_id, body.status, author=who.name, session=s, now=now))


@router.post("/{case_id}/priority", response_model=CaseDetail, dependencies=Staff)
def set_priority(case_id: RowId, body: PriorityIn, tx: Tx, who: Who) -> dict[str, Any]:
    return _write(
        tx, who, lambda s, now: desk.set_priority(case_id, body.priority, author=who.name, session=s, now=now)
    )


@router.post("/{case_id}/assign", response_model=CaseDetail, dependencies=Staff)
def assign(case_id: RowId, body: AssignIn, tx: Tx, who: Who) -> dict[str, Any]:
    """Give the case to one of the operator's staff; they are told on their channels."""
    return _write(tx, who, lambda s, now: desk.assign(case_id, body.assignee, author=who.name, session=s, now=now))
