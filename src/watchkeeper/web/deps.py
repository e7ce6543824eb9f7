"""Who is asking: the role behind a token, and what a customer's token may see.

Staff (admin, engineer) see and do everything. A customer token reads only
its own customer's services, alerts and incidents; anything else it asks
for by name or number gets the same 404 as something that does not exist,
so it learns nothing about other customers. What only staff may do (ingest,
silences, incident actions...) gets 403 with the reason.

An ingest token (a supplier's) may post usage, for the services its pattern
allows, and read the files and findings of its own feed; every other route,
`/metrics` included, answers it 403.

Every route takes what it works with from here: who asks, a session to read
with, the transaction its change runs in, and the app's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Path, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.customers import Customer
from watchkeeper.auth.models import ApiToken
from watchkeeper.auth.principal import Principal, Role
from watchkeeper.db import MAX_ROW_ID, in_transaction
from watchkeeper.web.tokens import require_token

__all__ = [
    "STAFF",
    "Now",
    "Principal",
    "Role",
    "RowId",
    "SessionDep",
    "StaffOnly",
    "Token",
    "Tx",
    "Who",
    "admin",
    "file_reader",
    "principal",
    "staff",
    "usage_writer",
]
T = TypeVar("T")

INGEST_ONLY = (
    "an ingest token posts usage (POST /api/v1/usage) and reads its own feed's files "
    "(GET /api/v1/files?feed=...) only; this needs a staff or customer token"
)


def principal(request: Request, token: ApiToken = Depends(require_token)) -> Principal:
    role = Role(token.role)
    if role is Role.INGEST:
        raise HTTPException(status.HTTP_403_FORBIDDEN, INGEST_ONLY)
    if role is not Role.CUSTOMER:
        return Principal(token.name, role)
    session: Session = request.app.state.sessions()
    try:
        name = session.scalar(select(Customer.name).where(Customer.id == token.customer_id))
    finally:
        session.close()
    return Principal(token.name, role, token.customer_id, name)


def staff(who: Principal = Depends(principal)) -> Principal:
    if not who.staff:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "a customer token reads its own services, alerts and incidents; this needs the operator's staff",
        )
    return who


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")


def admin(who: Principal = Depends(principal)) -> Principal:
    if who.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin manages users")
    return who


def _supplier(token: ApiToken) -> Principal:
    return Principal(token.name, Role.INGEST, service_pattern=token.services, feed=token.feed)


def usage_writer(request: Request, token: ApiToken = Depends(require_token)) -> Principal:
    """Staff, or an ingest token (limited to its services, see Principal.may_post)."""
    if Role(token.role) is Role.INGEST:
        return _supplier(token)
    return staff(principal(request, token))


def file_reader(request: Request, token: ApiToken = Depends(require_token)) -> Principal:
    """Staff, or an ingest token made for a feed (it reads that feed's files only)."""
    if Role(token.role) is not Role.INGEST:
        return staff(principal(request, token))
    if token.feed is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "this ingest token was made for no feed, so it reads no files; make one with --feed NAME",
        )
    return _supplier(token)


def get_session(request: Request) -> Iterator[Session]:
    """A session to read with, closed (and so rolled back) once the answer is made."""
    session: Session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


class Transactions:
    """Where a route's change runs: each `run` is one transaction, committed before the
    route answers (so a 2xx means stored), and run again from the start if it lost a
    race with another writer. What the work raises is answered by web.errors."""

    def __init__(self, request: Request) -> None:
        self._state = request.app.state

    def run(self, work: Callable[[Session, datetime], T]) -> T:
        """`work(session, now)`, with `now` read once the transaction has begun."""
        return in_transaction(self._state.sessions, lambda session: work(session, self._state.clock.now()))


def now(request: Request) -> datetime:
    """The app's clock, read as the request arrives."""
    return request.app.state.clock.now()  # type: ignore[no-any-return]


SessionDep = Annotated[Session, Depends(get_session)]
Tx = Annotated[Transactions, Depends(Transactions)]
Now = Annotated[datetime, Depends(now)]
Token = Annotated[ApiToken, Depends(require_token)]
Who = Annotated[Principal, Depends(principal)]
StaffOnly = Annotated[Principal, Depends(staff)]
STAFF = [Depends(staff)]
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id, from 1")]
