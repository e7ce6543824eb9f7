"""Checks: every heartbeat and probe with its status and last ping or result; a check's page with
its latency over the last results and its last pings. The staff's pages (a customer's person
sees its checks on its status page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from watchkeeper.checks import service as checks
from watchkeeper.errors import NotFound
from watchkeeper.web import charts
from watchkeeper.web.desk.access import Staff, not_found
from watchkeeper.web.desk.render import render

router = APIRouter(include_in_schema=False)
PAGE = 100
RESULTS = 60  # probe results a check's latency chart draws


@router.get("/checks", response_class=HTMLResponse)
def checks_page(request: Request, viewer: Staff, page: int = 1) -> HTMLResponse:
    page = max(1, min(page, 10_000))
    with request.app.state.sessions() as session:
        rows = [checks.check_view(c) for c in checks.list_checks(session=session)]
    total = len(rows)
    shown = rows[(page - 1) * PAGE : page * PAGE]
    return render(
        request,
        "checks.html",
        active="Checks",
        rows=shown,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        now=request.app.state.clock.now(),
    )


@router.get("/checks/{name}", response_class=HTMLResponse)
def check_page(request: Request, name: str, viewer: Staff) -> HTMLResponse:
    with request.app.state.sessions() as session:
        try:
            check = checks.get(name, session=session)
        except NotFound:
            raise not_found("check") from None
        view = checks.check_view(check)
        results = list(reversed(checks.last_results(check, session=session, limit=RESULTS)))
        pings = checks.last_pings(check, session=session, limit=20)
        latency = None
        if checks.is_probe(check):
            points = [r.latency if r.up else None for r in results]
            threshold = (check.settings or {}).get("max_latency")
            latency = charts.latency_chart(
                points, label=f"{name}: latency of the last {len(points)} probes", threshold=threshold
            )
    return render(
        request,
        "check.html",
        active="Checks",
        check=view,
        results=results,
        pings=pings,
        bodies=[p.body[:200].decode("utf-8", "replace") for p in pings],
        latency=latency,
        now=request.app.state.clock.now(),
    )
