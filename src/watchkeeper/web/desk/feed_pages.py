"""Feeds: every service with its stage, last record, last 24 hours and silence deadline; a service's
page with its learned week against the last one, its month by hour of week, its open alerts and
files, and its settings, previewed on a replay of its last 14 days before they are saved.

A customer's person sees its own services only; settings are the staff's.
The files a service page shows are those of the feed named like the service
(the usual one feed per supplier's service); every feed's latest files and
findings are on the Feeds page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from watchkeeper.alerts import service as alerts
from watchkeeper.db import in_transaction
from watchkeeper.feeds import service as feeds
from watchkeeper.feeds import views
from watchkeeper.feeds.models import Service, ServiceStage
from watchkeeper.feeds.rhythm import Sensitivity
from watchkeeper.feeds.schemas import ServicePatch, parse_minutes, validation_problems
from watchkeeper.finding import State
from watchkeeper.web import charts
from watchkeeper.web.desk.access import Seen, StaffPosted, Viewer, not_found
from watchkeeper.web.desk.render import render

router = APIRouter(include_in_schema=False)
PAGE = 50
Field = Annotated[str, Form(max_length=300)]


@router.get("/feeds", response_class=HTMLResponse)
def feeds_page(request: Request, viewer: Seen, order: str = "name", page: int = 1, q: str = "") -> HTMLResponse:
    now = request.app.state.clock.now()
    chosen = views.Order(order) if order in tuple(views.Order) else views.Order.NAME
    page = max(1, min(page, 100_000))
    with request.app.state.sessions() as session:
        rows, total = views.page_of_services(
            session=session,
            now=now,
            order=chosen,
            page=page,
            size=PAGE,
            customer_id=None if viewer.staff else viewer.who.customer_id,
            search=q or None,
        )
        firing = alerts.firing_counts([r.service.name for r in rows], session=session)
        files = feeds.list_files(session=session, limit=10) if viewer.staff else []
        findings = feeds.list_findings(session=session, limit=10) if viewer.staff else []
    lines = {
        r.service.name: charts.sparkline(r.hours, label=f"{r.service.name}: records in the last 24 h") for r in rows
    }
    return render(
        request,
        "feeds.html",
        active="Feeds" if viewer.staff else "Services",
        rows=rows,
        lines=lines,
        firing=firing,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        order=chosen,
        q=q,
        files=files,
        findings=findings,
        now=now,
    )


def visible(name: str, viewer: Viewer, session: Session) -> Service:
    try:
        service = feeds.get_service(session=session, name=name)
    except feeds.NotFound:
        raise not_found("service") from None
    if not viewer.staff and service.customer_id != viewer.who.customer_id:
        raise not_found("service")
    return service


def _service(request: Request, viewer: Viewer, session: Session, name: str) -> dict[str, Any]:
    now = request.app.state.clock.now()
    service = visible(name, viewer, session)
    learned = feeds.learned(session=session, name=name)
    week = views.band(service, learned.profile if learned else None, session=session, now=now)
    heat = views.week_heat(service, session=session, now=now)
    open_alerts = alerts.list_alerts(session=session, service=name, status=State.FIRING, limit=50)
    files = feeds.list_files(session=session, feed=name, limit=20) if viewer.staff else []
    findings = feeds.list_findings(session=session, feed=name, limit=20) if viewer.staff else []
    return {
        "service": service,
        "settings": feeds.service_out(service).settings,
        "week": week,
        "band": charts.band_chart(
            week.low,
            week.high,
            week.actual,
            label=f"{name}: expected band and the last 7 days",
            start_label=week.start_day,
        ),
        "heat": charts.heatmap(
            heat, label=f"{name}: mean records per hour of week, last 4 weeks", row_names=charts.DAYS
        ),
        "alerts": open_alerts,
        "files": files,
        "findings": findings,
        "learned": learned,
        "stages": [s.value for s in ServiceStage],
        "sensitivities": [s.value for s in Sensitivity],
        "now": now,
    }


@router.get("/feeds/{name}", response_class=HTMLResponse)
def service_page(request: Request, name: str, viewer: Seen, saved: bool = False) -> HTMLResponse:
    with request.app.state.sessions() as session:
        context = _service(request, viewer, session, name)
    active = "Feeds" if viewer.staff else "Services"
    return render(request, "service.html", active=active, saved=saved, **context)


@dataclass(frozen=True)
class SettingsForm:
    """The settings form's fields, as typed; an empty field clears its setting."""

    stage: str
    sensitivity: str
    min_silence: str
    max_silence: str
    active_hours: str
    snooze: str

    def changes(self, now: datetime) -> tuple[ServiceStage | None, dict[str, object]]:
        """The stage the form names (None: unchanged) and the settings it sets."""
        changes: dict[str, object] = {
            "sensitivity": self.sensitivity or None,
            "min_silence": self.min_silence.strip() or None,
            "max_silence": self.max_silence.strip() or None,
            "active_hours": self.active_hours.strip() or None,
            "snooze_until": None,
        }
        if self.snooze.strip():
            changes["snooze_until"] = (now + timedelta(minutes=parse_minutes(self.snooze))).isoformat()
        return (ServiceStage(self.stage) if self.stage in tuple(ServiceStage) else None), changes


def settings_form(
    stage: Field = "",
    sensitivity: Field = "",
    min_silence: Field = "",
    max_silence: Field = "",
    active_hours: Field = "",
    snooze: Field = "",
) -> SettingsForm:
    return SettingsForm(stage, sensitivity, min_silence, max_silence, active_hours, snooze)


SettingsPosted = Annotated[SettingsForm, Depends(settings_form)]


@router.post("/feeds/{name}/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    name: str,
    viewer: StaffPosted,
    form: SettingsPosted,
) -> HTMLResponse:
    """What a replay of the last 14 days alerts with the settings now saved, and with the form's."""
    now = request.app.state.clock.now()
    with request.app.state.sessions() as session:
        service = visible(name, viewer, session)
        try:
            new_stage, changes = form.changes(now)
            proposed = views.proposed_settings(service, changes).params(new_stage or service.stage)
        except (ValueError, ValidationError) as exc:
            return render(request, "_preview.html", problem=_said(exc))
        current = feeds.service_out(service).settings.params(service.stage)
        series = views.recent_series(service, session=session, now=now)
    before = views.replay_recent(series, current, now)
    after = views.replay_recent(series, proposed, now)
    return render(request, "_preview.html", before=before, after=after, days=views.PREVIEW_DAYS, empty=series is None)


def _said(exc: Exception) -> str:
    return validation_problems(exc) if isinstance(exc, ValidationError) else str(exc)


@router.post("/feeds/{name}/settings", response_model=None)
def save(
    request: Request,
    name: str,
    viewer: StaffPosted,
    form: SettingsPosted,
) -> Response:
    state = request.app.state

    def work(session: Session) -> None:
        now = state.clock.now()
        visible(name, viewer, session)
        new_stage, changes = form.changes(now)
        feeds.update_service(session=session, name=name, patch=ServicePatch(stage=new_stage, settings=changes), now=now)

    try:
        in_transaction(state.sessions, work)
    except (ValueError, ValidationError) as exc:
        with state.sessions() as session:
            context = _service(request, viewer, session, name)
        return render(request, "service.html", 422, active="Feeds", problem=_said(exc), **context)
    return RedirectResponse(f"/feeds/{name}?saved=1", status_code=303)
