"""Who is asking: a role, and for customers the customer. No web framework here,
so the command line can speak as a principal too (see access.py for the API's side)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

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
