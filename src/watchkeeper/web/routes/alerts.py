"""HTTP routes for alerts, silences, maintenance windows and dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from watchkeeper.alerts import mutes
from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.models import Alert, Dependency, MaintenanceWindow, Silence
from watchkeeper.alerts.schemas import (
    AlertOut,
    DependencyIn,
    DependencyOut,
    SilenceIn,
    SilenceOut,
    WindowIn,
    WindowOut,
)
from watchkeeper.feeds.service import visible_services
from watchkeeper.finding import State, Urgency
from watchkeeper.web.deps import STAFF as Staff
from watchkeeper.web.deps import Now, RowId, SessionDep, Token, Tx, Who

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts", response_model=list[AlertOut])
def get_alerts(
    session: SessionDep,
    who: Who,
    service: str | None = None,
    status: State | None = None,
    urgency: Urgency | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Alert]:
    """A customer token sees the alerts of its own services only."""
    return alerts.list_alerts(
        session=session,
        service=service,
        status=status,
        urgency=urgency,
        limit=limit,
        services=visible_services(who, session=session),
    )


@router.get("/silences", response_model=list[SilenceOut], dependencies=Staff)
def get_silences(now: Now, session: SessionDep, expired: bool = False) -> list[Silence]:
    return mutes.list_silences(session=session, now=now, include_expired=expired)


@router.post("/silences", response_model=SilenceOut, status_code=status.HTTP_201_CREATED, dependencies=Staff)
def post_silence(body: SilenceIn, now: Now, tx: Tx, token: Token) -> Silence:
    """Mute alerts matching all the matchers until `ends_at` (or for `duration`).

    The silence is recorded under the token's name. One matcher must name
    something; matchers taking any value of a label (`service=~".+"`) need `force`."""
    ends_at = body.ends_at or ((body.starts_at or now) + body.duration if body.duration else None)
    if ends_at is None:
        raise HTTPException(422, "give ends_at or duration")
    return tx.run(
        lambda session, _: mutes.add_silence(
            session=session,
            now=now,
            matchers=body.matchers,
            ends_at=ends_at,
            starts_at=body.starts_at,
            created_by=token.name,
            comment=body.comment,
            force=body.force,
        ),
    )


@router.delete("/silences/{silence_id}", response_model=SilenceOut, dependencies=Staff)
def expire_silence(silence_id: RowId, tx: Tx) -> Silence:
    """End a silence now; alerts it muted that still fire are raised."""
    return tx.run(lambda session, now: mutes.expire_silence(silence_id, session=session, now=now))


@router.get("/maintenance", response_model=list[WindowOut], dependencies=Staff)
def get_windows(session: SessionDep) -> list[MaintenanceWindow]:
    return mutes.list_windows(session=session)


@router.post("/maintenance", response_model=WindowOut, status_code=status.HTTP_201_CREATED, dependencies=Staff)
def post_window(body: WindowIn, tx: Tx, token: Token) -> MaintenanceWindow:
    """One-off (starts_at, ends_at), weekly (weekdays, start, end) or cron + duration, in `timezone`."""
    return tx.run(
        lambda session, now: mutes.add_window(session=session, now=now, created_by=token.name, **body.model_dump()),
    )


@router.delete("/maintenance/{window_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=Staff)
def delete_window(window_id: RowId, tx: Tx) -> None:
    tx.run(lambda session, now: mutes.delete_window(window_id, session=session, now=now))


@router.get("/dependencies", response_model=list[DependencyOut], dependencies=Staff)
def get_dependencies(session: SessionDep) -> list[Dependency]:
    return mutes.list_dependencies(session=session)


@router.post("/dependencies", response_model=DependencyOut, status_code=status.HTTP_201_CREATED, dependencies=Staff)
def post_dependency(body: DependencyIn, tx: Tx) -> Dependency:
    """While a `parent` alert fires, `child` alerts with the same `equal` labels are muted."""
    return tx.run(lambda session, now: mutes.add_dependency(session=session, now=now, **body.model_dump()))


@router.delete("/dependencies/{dependency_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=Staff)
def delete_dependency(dependency_id: RowId, tx: Tx) -> None:
    tx.run(lambda session, now: mutes.delete_dependency(dependency_id, session=session, now=now))
