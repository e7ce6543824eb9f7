"""/api/v1/users: staff read the people; admins add them and set their channels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from watchkeeper.auth import users
from watchkeeper.auth.principal import Role
from watchkeeper.db import in_transaction
from watchkeeper.errors import said
from watchkeeper.web.deps import admin, staff
from watchkeeper.web.routes.feeds import SessionDep

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role
    customer: str | None = Field(default=None, description="for a customer user: whose")
    channels: list[str] = Field(default_factory=list, description="Apprise URLs, e.g. mailto://anna@example.com")


class ChannelsIn(BaseModel):
    channels: list[str]


@router.get("", dependencies=[Depends(staff)])
def list_users(session: SessionDep) -> list[dict[str, Any]]:
    return [users.user_view(u, session=session) for u in users.list_users(session=session)]


def _write(request: Request, work: Any) -> dict[str, Any]:
    try:
        return in_transaction(request.app.state.sessions, work)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, said(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(admin)],
    responses={404: {"description": "no such customer"}},
)
def add_user(body: UserIn, request: Request) -> dict[str, Any]:
    from watchkeeper.support.service import get_customer

    def work(session: Any) -> dict[str, Any]:
        customer_id = get_customer(body.customer, session=session).id if body.customer else None
        user = users.add_user(
            session=session,
            now=request.app.state.clock.now(),
            name=body.name,
            role=body.role,
            customer_id=customer_id,
            channels=body.channels,
        )
        return users.user_view(user, session=session)

    return _write(request, work)


@router.put("/{name}/channels", dependencies=[Depends(admin)])
def set_channels(name: str, body: ChannelsIn, request: Request) -> dict[str, Any]:
    def work(session: Any) -> dict[str, Any]:
        return users.user_view(users.set_channels(name, body.channels, session=session), session=session)

    return _write(request, work)
