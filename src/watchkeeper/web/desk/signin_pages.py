"""Signing in and out: a password, or a one-time link mailed through the outbox.

Before anyone is signed in, the sign-in forms carry a double-submit token
(a random cookie and the same value in the form), so another site cannot
sign a browser in as someone else. Bad passwords count against the address
(auth.throttle, shared with the API's tokens) and against the name: after
NAME_FAILURES wrong ones for a name in NAME_WINDOW, that name is refused
with 429 from any address until the window passes (a sign-in link still
works, so the throttle cannot lock its owner out for good).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from watchkeeper.auth import signin
from watchkeeper.auth.models import User
from watchkeeper.auth.throttle import Throttle
from watchkeeper.auth.users import find_user
from watchkeeper.db import in_transaction
from watchkeeper.notify import outbox
from watchkeeper.notify.models import Subject
from watchkeeper.web.desk.access import COOKIE, Posted
from watchkeeper.web.desk.render import render
from watchkeeper.web.tokens import failed_attempt, throttled_for

router = APIRouter(include_in_schema=False)
PRESESSION = "wk_form"
NAME_FAILURES = 10
NAME_WINDOW = timedelta(minutes=15)
Text = Annotated[str, Form(max_length=1000)]


def name_throttle(request: Request) -> Throttle:
    return request.app.state.name_throttle  # type: ignore[no-any-return]


def _safe_next(target: str | None) -> str:
    """Only a path on this server: a sign-in must never bounce a browser to another site."""
    # Browsers read a backslash as a slash, so "/\\evil.example" is another site too.
    if not target or not target.startswith("/") or urlsplit(target.replace("\\", "/")).netloc:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target


def _form_page(request: Request, template: str, status: int = 200, **context: object) -> HTMLResponse:
    token = request.cookies.get(PRESESSION) or secrets.token_urlsafe(24)
    answer = render(request, template, status, form_token=token, **context)
    answer.set_cookie(PRESESSION, token, httponly=True, samesite="strict", secure=_https(request), path="/signin")
    return answer


def _presession_ok(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(PRESESSION)
    return bool(cookie) and secrets.compare_digest(cookie or "", sent)


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or str(request.app.state.settings.public_url).startswith("https:")


def _signed_in(request: Request, user: User, session: Session, now: datetime, target: str) -> Response:
    secret = signin.start_session(user, session=session, now=now)
    answer = RedirectResponse(_safe_next(target), status_code=303)
    answer.set_cookie(
        COOKIE,
        secret,
        max_age=int(signin.LIFETIME.total_seconds()),
        httponly=True,
        secure=_https(request),
        samesite="lax",
        path="/",
    )
    return answer


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/") -> HTMLResponse:
    return _form_page(request, "signin.html", next=_safe_next(next))


@router.post("/signin", response_model=None)
def signin_post(request: Request, name: Text, password: Text, form: Text, next: Text = "/") -> Response:
    state = request.app.state
    now = state.clock.now()
    if not _presession_ok(request, form):
        return _form_page(request, "signin.html", 403, next=next, error="The form had expired; sign in again.")
    wait = throttled_for(request) or name_throttle(request).blocked(name.strip().lower(), now)
    if wait is not None:
        error = f"Too many failed sign-ins for this name or from your address; try again in {wait} s."
        answer = _form_page(request, "signin.html", 429, next=next, error=error, name=name)
        answer.headers["Retry-After"] = str(wait)
        return answer

    def check(session: Session) -> Response | None:
        user = signin.check_password(name, password, session=session)
        return None if user is None else _signed_in(request, user, session, now, next)

    signed = in_transaction(state.sessions, check)
    if signed is not None:
        return signed
    failed_attempt(request)
    name_throttle(request).failed(name.strip().lower(), now)
    return _form_page(request, "signin.html", 401, next=next, error="Wrong name or password.", name=name)


@router.post("/signout")
def signout(request: Request, _viewer: Posted) -> RedirectResponse:
    state = request.app.state
    secret = request.cookies.get(COOKIE)
    in_transaction(state.sessions, lambda session: signin.end_session(secret, session=session, now=state.clock.now()))
    answer = RedirectResponse("/signin", status_code=303)
    answer.delete_cookie(COOKIE, path="/")
    return answer


@router.post("/signin/link", response_class=HTMLResponse)
def ask_for_link(request: Request, name: Text, form: Text) -> HTMLResponse:
    """Mail a one-time link to the person's first email channel; the answer is the same for any name."""
    state = request.app.state
    if not _presession_ok(request, form):
        return _form_page(request, "signin.html", 403, next="/", error="The form had expired; try again.")
    now = state.clock.now()
    base = str(state.settings.public_url).rstrip("/")

    def send(session: Session) -> None:
        user = find_user(name.strip(), session=session)
        mail = next((c for c in (user.channels if user else []) if str(c).startswith(("mailto:", "mailtos:"))), None)
        if user is None or mail is None:
            return
        secret, link = signin.make_link(user, session=session, now=now)
        outbox.enqueue(
            session=session,
            now=now,
            subject=Subject.SIGNIN,
            subject_id=link.id,
            reason="link",
            recipient=user.name,
            url=str(mail),
            title="Your watchkeeper sign-in link",
            body=f"Sign in to watchkeeper within {signin.LINK_MINUTES} minutes, once: {base}/signin/link/{secret}\n"
            "If you did not ask for it, ignore this message.",
        )

    in_transaction(state.sessions, send)
    said = "If that name has an email channel, a sign-in link is on its way; it works once, for 15 minutes."
    return _form_page(request, "signin.html", next="/", notice=said)


@router.get("/signin/link/{secret}", response_class=HTMLResponse)
def link_page(request: Request, secret: str) -> HTMLResponse:
    """A page with a button, so a mail scanner that fetches the link does not use it up."""
    state = request.app.state
    now = state.clock.now()
    user = in_transaction(state.sessions, lambda session: signin.link_user(secret, session=session, now=now))
    if user is None:
        return _form_page(request, "signin.html", 404, next="/", error="This sign-in link is used or out of date.")
    return _form_page(request, "signin_link.html", secret=secret)


@router.post("/signin/link/{secret}", response_model=None)
def use_link(request: Request, secret: str, form: Text) -> Response:
    state = request.app.state
    now = state.clock.now()
    if not _presession_ok(request, form):
        return _form_page(request, "signin.html", 403, next="/", error="The form had expired; open the link again.")

    def use(session: Session) -> Response | None:
        user = signin.use_link(secret, session=session, now=now)
        return None if user is None else _signed_in(request, user, session, now, "/")

    answer = in_transaction(state.sessions, use)
    if answer is None:
        failed_attempt(request)
        return _form_page(request, "signin.html", 404, next="/", error="This sign-in link is used or out of date.")
    return answer
