"""Who is asking: the role behind a token, and what a customer's token may see.

Staff (admin, engineer) see and do everything. A customer token reads only
its own customer's services, alerts and incidents; anything else it asks
for by name or number gets the same 404 as something that does not exist,
so it learns nothing about other customers. What only staff may do (ingest,
silences, incident actions...) gets 403 with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.api import require_token
from watchkeeper.auth.models import ApiToken
from watchkeeper.feeds.models import Service


class Role(StrEnum):
    ADMIN = "admin"
    ENGINEER = "engineer"
    CUSTOMER = "customer"


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    customer_id: int | None = None
    customer: str | None = None  # the customer's name, for customer tokens

    @property
    def staff(self) -> bool:
        return self.role is not Role.CUSTOMER

    def owns_service(self, session: Session, name: str) -> bool:
        if self.staff:
            return True
        owned = select(Service.id).where(Service.name == name, Service.customer_id == self.customer_id)
        return session.scalar(owned) is not None

    def services(self, session: Session) -> list[str] | None:
        """The services this principal may see; None means all."""
        if self.staff:
            return None
        return list(session.scalars(select(Service.name).where(Service.customer_id == self.customer_id)))


def principal(request: Request, token: ApiToken = Depends(require_token)) -> Principal:
    role = Role(token.role)
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
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a customer token reads its own services, alerts and "
                                                       "incidents; this needs the operator's staff")  # fmt: skip
    return who


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")
