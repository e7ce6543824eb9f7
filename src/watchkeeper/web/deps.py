"""Who is asking: the role behind a token, and what a customer's token may see.

Staff (admin, engineer) see and do everything. A customer token reads only
its own customer's services, alerts and incidents; anything else it asks
for by name or number gets the same 404 as something that does not exist,
so it learns nothing about other customers. What only staff may do (ingest,
silences, incident actions...) gets 403 with the reason.

An ingest token (a supplier's) may post usage, for the services its pattern
allows, and read the files and findings of its own feed; every other route,
`/metrics` included, answers it 403.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.models import ApiToken
from watchkeeper.auth.principal import Principal, Role
from watchkeeper.web.tokens import require_token

__all__ = ["Principal", "Role", "admin", "file_reader", "principal", "staff", "usage_writer"]

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
    from watchkeeper.support.models import Customer

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
