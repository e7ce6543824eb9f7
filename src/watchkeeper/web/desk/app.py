"""The web desk's routes on the app, its static files, and its answers to a stranger or a bad request."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from watchkeeper.auth.throttle import Throttle
from watchkeeper.web.desk import (
    case_pages,
    check_pages,
    feed_pages,
    incident_pages,
    live,
    oncall_pages,
    signin_pages,
    status_pages,
)
from watchkeeper.web.desk.access import PageError, SignInFirst
from watchkeeper.web.desk.render import STATIC, STATIC_PREFIX, render

TITLES = {401: "Sign in first", 403: "Not allowed", 404: "Not found", 422: "Not understood", 429: "Too many attempts"}


def install(app: FastAPI) -> None:
    """The desk's routes on `app`, whose state already has its engine, sessions and clock."""
    app.state.desk_hub = live.reading(app.state.engine)
    app.state.name_throttle = Throttle(signin_pages.NAME_FAILURES, signin_pages.NAME_WINDOW)
    app.state.desk_now_parts = {}  # Now's live parts, drawn once per change (incident_pages.now_part)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC), name="desk-static")
    for module in (
        signin_pages,
        live,
        incident_pages,
        feed_pages,
        check_pages,
        oncall_pages,
        case_pages,
        status_pages,
    ):
        app.include_router(module.router)

    @app.exception_handler(SignInFirst)
    def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        if request.headers.get("hx-request") == "true" or request.url.path == "/events":
            return HTMLResponse("sign in first", status_code=401, headers={"HX-Redirect": "/signin"})
        return RedirectResponse(f"/signin?next={exc.next_url}", status_code=303)

    @app.exception_handler(PageError)
    def page_error(request: Request, exc: PageError) -> Response:
        title = TITLES.get(exc.status_code, "Something went wrong")
        return render(request, "error.html", exc.status_code, title=title, message=exc.detail)
