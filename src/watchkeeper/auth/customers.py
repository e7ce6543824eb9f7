"""Customers: the tenants every other domain's objects belong to (a service,
a case, a user, a token). Their support plans stay with the desk.

A module apart from auth.models so that a command that loads only the feed
modules, such as `watchkeeper ingest`, registers this one class and not the
users' and tokens': 0.01 s of its start.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from watchkeeper.db import Base, UTCDateTime, get_existing


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The desk's support_plans.id. The database holds the foreign key (set up
    # with the table); it is left out here so that the core does not name the
    # desk's table, which a command loading only the core would not register.
    plan_id: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str | None] = mapped_column(String(64))  # the plan's if unset
    service_pattern: Mapped[str | None] = mapped_column(String(200))  # services whose name matches are theirs
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def customer_by_id(customer_id: int, *, session: Session) -> Customer:
    return get_existing(session, Customer, customer_id, missing=f"no customer {customer_id}")


def get_customer(name: str, *, session: Session) -> Customer:
    row = session.scalar(select(Customer).where(Customer.name == name))
    if row is None:
        raise LookupError(f"no customer {name!r}; `watchkeeper customers list` shows them")
    return row


def list_customers(*, session: Session) -> list[Customer]:
    return list(session.scalars(select(Customer).order_by(Customer.name)))
