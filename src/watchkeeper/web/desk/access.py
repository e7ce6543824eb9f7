"""Who is looking at a page: the session cookie, the form token, and where a stranger is sent.

Every page depends on `viewer` (a signed-in person, or a redirect to the
sign-in page); every form post on `form_viewer`, which also checks the form
token (CSRF: a hidden `csrf` field, or htmx's `X-CSRF-Token` header) and
answers 403 without it. A customer's person gets the same 404 for another
customer's thing as for one that does not exist (`not_found`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from watchkeeper.auth import signin
from watchkeeper.auth.customers import customer_by_id
from watchkeeper.auth.models import User
from watchkeeper.auth.principal import Principal, Role
from watchkeeper.db import in_transaction

COOKIE = "wk_session"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class Viewer:
    name: str
    who: Principal
    csrf: str  # the form token of this sign-in (CSRF)

    @property
    def staff(self) -> bool:
        return self.who.staff


class PageError(HTTPException):
    """Answered as an HTML page (web.desk.app), not as the API's JSON."""


class SignInFirst(Exception):
    """No live session: a page answers with a redirect to the sign-in page, a fragment with 401."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def principal_of(user: User, session: Session) -> Principal:
    if user.customer_id is None:
        return Principal(user.name, Role(user.role))
    return Principal(
        user.name, Role(user.role), user.customer_id, customer_by_id(user.customer_id, session=session).name
    )


def _viewer(request: Request) -> Viewer | None:
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    state = request.app.state

    def look(session: Session, now: datetime) -> Viewer | None:
        signed = signin.current(secret, session=session, now=now)
        if signed is None:
            return None
        return Viewer(signed.user.name, principal_of(signed.user, session), signin.form_token(secret))

    found = in_transaction(state.sessions, lambda session: look(session, state.clock.now()))
    request.state.viewer = found
    return found


def viewer(request: Request) -> Viewer:
    found = _viewer(request)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInFirst(quote(path, safe="/?=&"))
    return found


async def form_viewer(request: Request, found: Viewer = Depends(viewer)) -> Viewer:
    """The viewer, once the post has shown the form token of the viewer's sign-in."""
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(FORMS):
        field = (await request.form()).get("csrf")
        sent = field if isinstance(field, str) else None
    if not signin.form_token_ok(request.cookies.get(COOKIE), sent):
        raise PageError(status.HTTP_403_FORBIDDEN, "This form has no valid form token; reload the page and try again.")
    return found


def staff_viewer(found: Viewer = Depends(viewer)) -> Viewer:
    if not found.staff:
        raise not_found("page")
    return found


def staff_poster(found: Viewer = Depends(form_viewer)) -> Viewer:
    if not found.staff:
        raise PageError(status.HTTP_403_FORBIDDEN, "Only the operator's staff do this.")
    return found


def not_found(what: str) -> HTTPException:
    return PageError(status.HTTP_404_NOT_FOUND, f"There is no such {what}, or it is not yours to see.")


Seen = Annotated[Viewer, Depends(viewer)]
Posted = Annotated[Viewer, Depends(form_viewer)]
Staff = Annotated[Viewer, Depends(staff_viewer)]
StaffPosted = Annotated[Viewer, Depends(staff_poster)]
