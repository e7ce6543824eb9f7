"""/api/v1/pbx: PBXs watched over the Asterisk Manager Interface, with their SIP OPTIONS check.

The AMI secret is taken, stored sealed, and never given back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.orm import Session

from watchkeeper.alerts import service as alerts
from watchkeeper.auth.customers import get_customer
from watchkeeper.checks import pbxes
from watchkeeper.checks.schemas import PbxIn, PbxOut, PbxShown
from watchkeeper.web.deps import STAFF, SessionDep, Tx

router = APIRouter(prefix="/api/v1/pbx", tags=["pbx"], dependencies=STAFF)


@router.get("", response_model=list[PbxOut])
def list_pbxes(session: SessionDep) -> list[dict[str, Any]]:
    return [pbxes.pbx_view(c, session=session) for c in pbxes.list_pbxes(session=session)]


@router.post(
    "",
    response_model=PbxOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such customer"}, 409: {"description": "a check of this name exists"}},
)
def add_pbx(body: PbxIn, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        spec = pbxes.PbxInput(
            name=body.name,
            ami=body.ami,
            username=body.ami_user,
            secret=body.ami_secret,
            sip=body.sip,
            sip_transport=body.sip_transport,
            config_files=body.config_files,
            customer_id=get_customer(body.customer, session=session).id if body.customer else None,
            interval=timedelta(seconds=body.interval_seconds),
            service=body.service,
            zone=body.timezone,
            timeout=body.timeout,
            chan_sip=body.chan_sip,
        )
        return pbxes.pbx_view(pbxes.add(spec, session=session, now=now), session=session)

    return tx.run(work)


@router.get("/{name}", response_model=PbxShown)
def show_pbx(
    name: str,
    request: Request,
    session: SessionDep,
    hours: Annotated[int, Query(ge=1, le=24 * 31, description="channels and calls of the last hours")] = 24,
) -> dict[str, Any]:
    check = pbxes.get(name, session=session)
    return pbxes.pbx_detail(check, session=session, now=request.app.state.clock.now(), hours=hours)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove_pbx(name: str, request: Request, tx: Tx) -> None:
    def work(session: Session, now: datetime) -> None:
        findings = pbxes.remove(pbxes.get(name, session=session), session=session, now=now)
        alerts.record_all(findings, session=session, now=now, config=request.app.state.routing)

    tx.run(work)
