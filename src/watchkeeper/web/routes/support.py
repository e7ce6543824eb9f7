"""HTTP routes of the desk: asking a customer (bearer token), and the answer pages the customer's links open."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from watchkeeper.support import enquiries
from watchkeeper.support.enquiries import IfExpected
from watchkeeper.support.links import REFUSED, Answer, InvalidLink
from watchkeeper.web.deps import Tx, staff
from watchkeeper.web.pages import page, too_many
from watchkeeper.web.tokens import failed_attempt, throttled_for

router = APIRouter(tags=["support"])


class EnquiryIn(BaseModel):
    service: str = Field(min_length=1, max_length=200)
    question: str | None = Field(default=None, max_length=2000)
    incident_id: int | None = None
    case_id: int | None = None
    if_expected: IfExpected = IfExpected.SNOOZE
    snooze_hours: int = Field(default=24, ge=1, le=24 * 30)


class EnquiryOut(BaseModel):
    id: int
    question: str
    expires_at: str
    links: dict[Answer, str]


def _secret(request: Request, session) -> bytes:  # type: ignore[no-untyped-def]
    return enquiries.server_secret(session=session)


@router.post(
    "/api/v1/enquiries",
    response_model=EnquiryOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(staff)],
    responses={404: {"description": "no such service or customer"}},
)
def ask(body: EnquiryIn, request: Request, tx: Tx) -> EnquiryOut:
    """Ask the customer's technical contact whether a quiet service is expected; returns the two answer links."""
    state = request.app.state

    def work(session: Session, now: datetime) -> EnquiryOut:
        asked = enquiries.ask(
            session=session,
            now=now,
            secret=_secret(request, session),
            base_url=state.settings.public_url,
            service=body.service,
            question=body.question,
            incident_id=body.incident_id,
            case_id=body.case_id,
            if_expected=body.if_expected,
            snooze=timedelta(hours=body.snooze_hours),
        )
        e = asked.enquiry
        return EnquiryOut(id=e.id, question=e.question, expires_at=e.expires_at.isoformat(), links=asked.links)

    return tx.run(work)


_WORDS = {
    Answer.EXPECTED: "Yes, this is expected (we are testing, or it is planned)",
    Answer.NOT_EXPECTED: "No, this is not expected: please investigate",
}


@router.get("/enquiries/answer", response_class=HTMLResponse, include_in_schema=False)
def answerpage(request: Request, tx: Tx, token: Annotated[str, Query(max_length=500)]) -> HTMLResponse:
    """Opening a link only shows what it would answer; the answer is given by the button, so a mail
    scanner that follows links answers nothing."""
    if (wait := throttled_for(request)) is not None:
        return too_many(wait)
    try:
        enquiry, given = tx.run(
            lambda s, now: enquiries.preview(session=s, now=now, secret=_secret(request, s), token=token),
        )
    except InvalidLink:
        failed_attempt(request)
        return page("Link not valid", f"<p>{REFUSED}</p>", 404)
    if enquiry.answered_at is not None:
        return page(
            "Already answered",
            f"<p>This enquiry was answered on {enquiry.answered_at:%Y-%m-%d %H:%M} UTC. Thank you.</p>",
        )
    return page(
        "Your answer",
        f"<p>{html.escape(enquiry.question)}</p><form method='post'>"
        f"<input type='hidden' name='token' value='{html.escape(token)}'>"
        f"<button type='submit'>{html.escape(_WORDS[given])}</button></form>",
    )


@router.post("/enquiries/answer", response_class=HTMLResponse, include_in_schema=False)
def answer(request: Request, tx: Tx, token: Annotated[str, Form(max_length=500)]) -> HTMLResponse:
    if (wait := throttled_for(request)) is not None:
        return too_many(wait)
    try:
        said = tx.run(
            lambda s, now: enquiries.answer(session=s, now=now, secret=_secret(request, s), token=token),
        )
    except InvalidLink:
        failed_attempt(request)
        return page("Link not valid", f"<p>{REFUSED}</p>", 404)
    return page("Thank you", f"<p>{html.escape(said)}</p>")
