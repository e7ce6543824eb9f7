"""Templates, and the filters every page uses to say when and how much."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/desk-static"


def ago(then: datetime | None, now: datetime) -> str:
    """'3 min ago', '2 h 5 min ago', 'in 4 min': how far `then` is from `now`, as a person says it."""
    if then is None:
        return "never"
    later = then > now
    return ("in " if later else "") + span(abs(now - then)) + ("" if later else " ago")


def span(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def when(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
environment.filters.update(when=when, number=number, span=span)
environment.globals.update(ago=ago, static=STATIC_PREFIX)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` with `context`, plus who is signed in and the form token (from the request's state)."""
    viewer = getattr(request.state, "viewer", None)
    html = environment.get_template(template).render(request=request, viewer=viewer, **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
