"""/api/v1/users: staff read the people; admins add them and set their channels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from watchkeeper.auth import users
from watchkeeper.auth.customers import get_customer
from watchkeeper.auth.principal import Role
from watchkeeper.web.deps import SessionDep, Tx, admin, staff

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role
    customer: str | None = Field(default=None, description="for a customer user: whose")
    channels: list[str] = Field(default_factory=list, description="Apprise URLs, e.g. mailto://anna@example.com")


class ChannelsIn(BaseModel):
    channels: list[str]


class UserOut(BaseModel):
    name: str
    role: Role
    customer: str | None = Field(description="for a customer user: whose")
    channels: list[str] = Field(description="Apprise URLs, their passwords masked")
    created_at: datetime


@router.get("", response_model=list[UserOut], dependencies=[Depends(staff)])
def list_users(session: SessionDep) -> list[dict[str, Any]]:
    return [users.user_view(u, session=session) for u in users.list_users(session=session)]


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(admin)],
    responses={404: {"description": "no such customer"}},
)
def add_user(body: UserIn, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        customer_id = get_customer(body.customer, session=session).id if body.customer else None
        user = users.add_user(
            session=session,
            now=now,
            name=body.name,
            role=body.role,
            customer_id=customer_id,
            channels=body.channels,
        )
        return users.user_view(user, session=session)

    return tx.run(work)


@router.put("/{name}/channels", response_model=UserOut, dependencies=[Depends(admin)])
def set_channels(name: str, body: ChannelsIn, tx: Tx) -> dict[str, Any]:
    return tx.run(
        lambda session, _: users.user_view(users.set_channels(name, body.channels, session=session), session=session)
    )
