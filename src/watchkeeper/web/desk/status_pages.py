"""A customer's status page: each of its services and checks now, 90 days of uptime bars, and the
incidents that affected it.

A day's uptime is the share of it with no incident open for the service
(for a probe, the share of its results that were up); maintenance windows
that cover the service are drawn apart, in blue, and do not count as down.
Days are UTC days. The incidents show only what a customer may read: when
each opened, was acknowledged and resolved; the operator's notes, pages and
who was woken stay on the desk.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from watchkeeper.alerts import mutes
from watchkeeper.alerts import service as alerts
from watchkeeper.auth.customers import Customer, get_customer
from watchkeeper.checks import service as checks
from watchkeeper.feeds import views
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents import uptime
from watchkeeper.support import service as desk
from watchkeeper.web import charts
from watchkeeper.web.desk.access import Seen, Viewer, not_found
from watchkeeper.web.desk.render import render

router = APIRouter(include_in_schema=False)
DAYS = 90


def _services(customer: Customer, session: Session, now: Any, days: list[Any]) -> list[dict[str, Any]]:
    names = desk.services_of(customer, session=session)
    spans = incidents.down_spans(names, session=session, since=now - timedelta(days=DAYS), now=now)
    firing = alerts.firing_counts(names, session=session)
    since = views.watched_since(names, session=session)
    out = []
    for name in names:
        down = uptime.down_by_day(spans[name], days, now)
        held = mutes.maintenance_by_day({"service": name, "customer": customer.name}, days, session=session, now=now)
        bars = [
            charts.Day(
                day.isoformat(),
                uptime.up_fraction(d, day, now, since=since.get(name)),
                maintenance_minutes=m.total_seconds() / 60,
                incidents=sum(1 for s, e in spans[name] if s.date() <= day <= e.date()),
            )
            for day, d, m in zip(days, down, held, strict=True)
        ]
        out.append({"name": name, "state": "down" if firing.get(name) else "up", "days": bars})
    return out


def _checks(customer: Customer, session: Session, days: list[Any]) -> list[dict[str, Any]]:
    rows = checks.list_checks(session=session, customer_id=customer.id)
    results = checks.results_by_day([c.id for c in rows], days, session=session)
    out = []
    for check in rows:
        bars = [
            charts.Day(day.isoformat(), None if r is None or not r[1] else min(1.0, r[0] / r[1]))
            for day, r in zip(days, results[check.id], strict=True)
        ]
        out.append({"name": check.name, "state": str(check.status), "days": bars})
    return out


def _status(request: Request, customer: Customer, session: Session) -> dict[str, Any]:
    now = request.app.state.clock.now()
    days = uptime.days_back(now.date(), DAYS)
    watched = _services(customer, session, now, days) + _checks(customer, session, days)
    for row in watched:
        row["bars"] = charts.uptime_bars(row["days"], label=f"{row['name']}: uptime of the last {DAYS} days")
        row["percent"] = charts.uptime_percent(row["days"])
    names = [w["name"] for w in watched]
    affected = incidents.affecting(names, session=session, since=now - timedelta(days=DAYS), customer=customer.name)
    return {"customer": customer, "watched": watched, "incidents": affected, "days": DAYS, "now": now}


@router.get("/status", response_class=HTMLResponse)
def own_status(request: Request, viewer: Seen) -> HTMLResponse:
    if viewer.who.customer is None:
        with request.app.state.sessions() as session:
            names = [c.name for c in desk.list_customers(session=session)]
        return render(request, "status_index.html", active="Customers", names=names)
    return status_of(request, viewer.who.customer, viewer)


@router.get("/status/{name}", response_class=HTMLResponse)
def status_page(request: Request, name: str, viewer: Seen) -> HTMLResponse:
    if not viewer.staff and name != viewer.who.customer:
        raise not_found("status page")
    return status_of(request, name, viewer)


def status_of(request: Request, name: str, viewer: Viewer) -> HTMLResponse:
    with request.app.state.sessions() as session:
        try:
            customer = get_customer(name, session=session)
        except LookupError:
            raise not_found("status page") from None
        context = _status(request, customer, session)
    return render(request, "status.html", active="Status" if not viewer.staff else "Customers", **context)
