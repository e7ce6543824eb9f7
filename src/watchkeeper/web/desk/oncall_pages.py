"""On-call: who is on call now and next in every schedule, and this week's shifts in each
schedule's own time zone. The staff's page; a customer's person gets 404."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from watchkeeper.oncall import service as oncall
from watchkeeper.web.desk.access import Staff
from watchkeeper.web.desk.render import render

router = APIRouter(include_in_schema=False)
WEEK = timedelta(days=7)


@router.get("/oncall", response_class=HTMLResponse)
def oncall_page(request: Request, viewer: Staff) -> HTMLResponse:
    now = request.app.state.clock.now()
    with request.app.state.sessions() as session:
        answers = oncall.who(session=session, at=now)
        rows = [
            {
                "schedule": a.schedule,
                "zone": ZoneInfo(a.schedule.tz),
                "now": a.now,
                "next": a.next,
                "shifts": oncall.shifts(a.schedule.id, session=session, start=now, end=now + WEEK),
            }
            for a in answers
        ]
    return render(request, "oncall.html", active="On-call", rows=rows, now=now)
