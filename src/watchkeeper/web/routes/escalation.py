"""/api/v1/oncall (policies, routes), /api/v1/users/{name}/rules, and the acknowledge page of a page's link."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from watchkeeper.finding import Urgency
from watchkeeper.oncall import paging, policies
from watchkeeper.oncall.escalation import parse_duration, parse_level
from watchkeeper.support.links import REFUSED, InvalidLink
from watchkeeper.web.deps import STAFF, RowId, SessionDep, Tx
from watchkeeper.web.pages import page, too_many
from watchkeeper.web.tokens import failed_attempt, throttled_for

router = APIRouter(tags=["oncall"])
links = APIRouter(tags=["oncall"])
Name = Annotated[str, Path(min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LevelIn(Strict):
    users: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=50)
    schedule: str | None = Field(default=None, min_length=1, max_length=100)
    timeout: str = Field(default="30m", max_length=20, description="then wait this long, e.g. 15m")


class PolicyIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    levels: list[LevelIn] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=0, ge=0, le=9)
    ack_timeout: str | None = Field(default=None, max_length=20, description="e.g. 4h")


class LevelOut(BaseModel):
    users: list[str]
    schedule: str | None
    timeout: str


class PolicyOut(BaseModel):
    name: str
    repeat: int
    ack_timeout: str | None
    levels: list[LevelOut]


class RouteIn(Strict):
    policy: str = Field(min_length=1, max_length=100)
    matchers: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20, description="label matchers; none: every incident"
    )


class RouteOut(BaseModel):
    id: int
    position: int
    policy: str
    matchers: list[str]


class RuleIn(Strict):
    urgency: Urgency = Urgency.HIGH
    channel: str = Field(min_length=1, max_length=2000, description="Apprise URL, or sip:NUMBER for a call")
    after: str = Field(default="0m", max_length=20, description="after the level is paged, e.g. 0m, 2m, 5m")


class RuleOut(BaseModel):
    id: int
    urgency: Urgency
    channel: str = Field(description="a voice number, or an Apprise URL's scheme and host only")
    after: str


def _levels(body: list[LevelIn]) -> list[Any]:
    return [
        parse_level(
            ";".join(
                [*([f"users={','.join(lv.users)}"] if lv.users else [])]
                + ([f"schedule={lv.schedule}"] if lv.schedule else [])
                + [f"timeout={lv.timeout}"]
            )
        )
        for lv in body
    ]


@router.get("/api/v1/oncall/policies", response_model=list[PolicyOut], dependencies=STAFF)
def list_policies(session: SessionDep) -> list[dict[str, Any]]:
    return [policies.policy_view(p) for p in policies.list_policies(session=session)]


@router.get("/api/v1/oncall/policies/{name}", response_model=PolicyOut, dependencies=STAFF)
def show_policy(name: Name, session: SessionDep) -> dict[str, Any]:
    return policies.policy_view(policies.get_policy(name, session=session))


@router.post(
    "/api/v1/oncall/policies", response_model=PolicyOut, status_code=status.HTTP_201_CREATED, dependencies=STAFF
)
def add_policy(body: PolicyIn, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        row = policies.add_policy(
            session=session,
            now=now,
            name=body.name,
            levels=_levels(body.levels),
            repeat=body.repeat,
            ack_timeout=parse_duration(body.ack_timeout) if body.ack_timeout else None,
        )
        return policies.policy_view(row)

    return tx.run(work)


@router.delete("/api/v1/oncall/policies/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=STAFF)
def remove_policy(name: Name, tx: Tx) -> None:
    tx.run(lambda session, _: policies.remove_policy(name, session=session))


@router.get("/api/v1/oncall/routes", response_model=list[RouteOut], dependencies=STAFF)
def list_routes(session: SessionDep) -> list[dict[str, Any]]:
    return [policies.route_view(r, name) for r, name in policies.list_routes(session=session)]


@router.post("/api/v1/oncall/routes", response_model=RouteOut, status_code=status.HTTP_201_CREATED, dependencies=STAFF)
def add_route(body: RouteIn, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        route = policies.add_route(session=session, now=now, policy=body.policy, matchers=body.matchers)
        return policies.route_view(route, body.policy)

    return tx.run(work)


@router.delete("/api/v1/oncall/routes/{route_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=STAFF)
def remove_route(route_id: RowId, tx: Tx) -> None:
    tx.run(lambda session, _: policies.remove_route(route_id, session=session))


@router.get("/api/v1/users/{name}/rules", response_model=list[RuleOut], dependencies=STAFF)
def list_rules(name: Name, session: SessionDep) -> list[dict[str, Any]]:
    return [policies.rule_view(r) for r in policies.list_rules(name, session=session)]


@router.post(
    "/api/v1/users/{name}/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED, dependencies=STAFF
)
def add_rule(name: Name, body: RuleIn, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        rule = policies.add_rule(
            name,
            session=session,
            now=now,
            urgency=body.urgency,
            channel=body.channel,
            delay=parse_duration(body.after),
        )
        return policies.rule_view(rule)

    return tx.run(work)


@router.delete("/api/v1/users/{name}/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=STAFF)
def remove_rule(name: Name, rule_id: RowId, tx: Tx) -> None:
    tx.run(lambda session, _: policies.remove_rule(name, rule_id, session=session))


# -- the acknowledge link of a page: no token, the link is the credential ------------------


@links.get("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
def ack_page(request: Request, tx: Tx, token: Annotated[str, Path(max_length=500)]) -> HTMLResponse:
    """Opening the link only shows what it would acknowledge; the button does it, so a mail
    scanner that follows links acknowledges nothing."""
    return _ack_link(request, tx, token, use=False)


@links.post("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
def ack(request: Request, tx: Tx, token: Annotated[str, Path(max_length=500)]) -> HTMLResponse:
    return _ack_link(request, tx, token, use=True)


def _ack_link(request: Request, tx: Tx, token: str, *, use: bool) -> HTMLResponse:
    """What a link's page says: opened, what it would acknowledge; used, that it did. A link
    not valid counts against the asker's address, as an enquiry's does."""
    if (wait := throttled_for(request)) is not None:
        return too_many(wait)
    read = paging.use_ack_link if use else paging.read_ack_link
    try:
        link = tx.run(lambda s, now: read(token, session=s, now=now))
    except InvalidLink:
        failed_attempt(request)
        return page("Link not valid", f"<p>{REFUSED}</p>", 404)
    what = html.escape(f"incident {link.incident.id}: {link.incident.title}")
    if not link.current:
        return page("Nothing to acknowledge", f"<p>{what} is {html.escape(str(link.incident.status))}.</p>")
    if use:
        return page("Acknowledged", f"<p>{what} is acknowledged by {html.escape(link.user)}; paging stopped.</p>")
    return page(
        "Acknowledge",
        f"<p>{what}</p><form method='post'><button type='submit'>"
        f"Acknowledge as {html.escape(link.user)}: stop paging</button></form>",
    )
