"""What the web desk reads of the feeds: a page of services, their last day by hour, a service's
month by hour of week, its learned week against the last one, and a replay of its last 14 days.

Each reads what it draws in a few indexed queries, whatever the number of
services: a page of 50 services and their 24 hours is two queries, not 51.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.feeds.models import (
    HOURS_PER_DAY,
    MINUTES_PER_HOUR,
    FeedState,
    HourCount,
    MinuteCount,
    Service,
    buckets,
)
from watchkeeper.feeds.replay import ReplayAlert, Series, pair_events, replay_series
from watchkeeper.feeds.rhythm import Params
from watchkeeper.feeds.schemas import ServiceSettings, with_minutes

WEEK_HOURS = 7 * HOURS_PER_DAY
PREVIEW_DAYS = 14


class Order(StrEnum):
    NAME = "name"
    LAST = "last"  # longest silent first
    STAGE = "stage"


@dataclass(frozen=True)
class ServiceRow:
    service: Service
    hours: list[int]  # records in each of the last 24 hours, oldest first
    due_at: datetime | None  # the feed watcher's next look: the silence deadline if nothing comes


def _hour(at: datetime) -> int:
    return int(at.timestamp()) // 3600


def hourly(service_ids: Sequence[int], *, session: Session, until: datetime, hours: int) -> dict[int, list[int]]:
    """Records per hour of each service, the `hours` up to and including `until`'s, oldest first."""
    last = _hour(until)
    first = last - hours + 1
    out = {sid: [0] * hours for sid in service_ids}
    if not service_ids:
        return out
    rows = session.execute(
        select(HourCount.service_id, HourCount.hour, HourCount.count).where(
            HourCount.day.in_(buckets(first // HOURS_PER_DAY, last // HOURS_PER_DAY)),
            HourCount.service_id.in_(list(service_ids)),
            HourCount.hour >= first,
            HourCount.hour <= last,
        )
    )
    for sid, hour, count in rows:
        out[sid][hour - first] += int(count)
    return out


def page_of_services(
    *,
    session: Session,
    now: datetime,
    order: Order = Order.NAME,
    page: int = 1,
    size: int = 50,
    customer_id: int | None = None,
    search: str | None = None,
) -> tuple[list[ServiceRow], int]:
    """One page of services in `order`, with what the Feeds page shows of each; and how many there are."""
    query = select(Service)
    if customer_id is not None:
        query = query.where(Service.customer_id == customer_id)
    if search:
        query = query.where(Service.name.contains(search.strip()[:200], autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ordering = {
        Order.NAME: (Service.name,),
        Order.LAST: (Service.last_seen.is_(None).desc(), Service.last_seen, Service.name),
        Order.STAGE: (Service.stage, Service.name),
    }[order]
    services = list(session.scalars(query.order_by(*ordering).offset((page - 1) * size).limit(size)))
    ids = [s.id for s in services]
    hours = hourly(ids, session=session, until=now, hours=24)
    due = {
        sid: at
        for sid, at in session.execute(
            select(FeedState.service_id, FeedState.due_at).where(FeedState.service_id.in_(ids))
        )
    }
    rows = [ServiceRow(s, hours[s.id], due.get(s.id)) for s in services]
    return rows, int(total)


def _zone(service: Service) -> ZoneInfo:
    return ZoneInfo(ServiceSettings.model_validate(service.settings or {}).timezone)


def week_heat(service: Service, *, session: Session, now: datetime, weeks: int = 4) -> list[list[float]]:
    """Mean records per hour of week (7 rows from Monday, 24 columns) over the last `weeks` weeks, local time."""
    hours = weeks * WEEK_HOURS
    counts = hourly([service.id], session=session, until=now, hours=hours)[service.id]
    zone, first = _zone(service), _hour(now) - hours + 1
    cells = [[0.0] * HOURS_PER_DAY for _ in range(7)]
    for offset, count in enumerate(counts):
        local = datetime.fromtimestamp((first + offset) * 3600, zone)
        cells[local.weekday()][local.hour] += count / weeks
    return cells


@dataclass(frozen=True)
class Week:
    """The learned week against the last one, hourly, from local midnight six days ago."""

    start_day: str  # Mon..Sun
    low: list[float]
    high: list[float]
    actual: list[float | None]  # None: hours still to come


def band(service: Service, profile: Sequence[float] | None, *, session: Session, now: datetime) -> Week:
    """`profile` is the model's 168 expected hourly counts from Monday 00:00 local. The band is the
    Poisson range of about 95 % around each (expected ± 2 √expected); unknown hours draw no band."""
    zone = _zone(service)
    local = now.astimezone(zone)
    start = (local - timedelta(days=6)).replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((now - start).total_seconds()) // 3600 + 1
    counts = hourly([service.id], session=session, until=now, hours=elapsed)[service.id]
    shift = start.weekday() * HOURS_PER_DAY
    expected = [float("nan")] * WEEK_HOURS if profile is None else list(profile)
    rolled = [expected[(shift + h) % WEEK_HOURS] for h in range(WEEK_HOURS)]
    low = [0.0 if math.isnan(e) else max(0.0, e - 2 * math.sqrt(e)) for e in rolled]
    high = [0.0 if math.isnan(e) else e + 2 * math.sqrt(e) for e in rolled]
    actual: list[float | None] = [float(c) for c in counts[:WEEK_HOURS]]
    actual += [None] * (WEEK_HOURS - len(actual))
    return Week(start.strftime("%a"), low, high, actual)


def proposed_settings(service: Service, changes: dict[str, object]) -> ServiceSettings:
    """The service's settings with `changes` merged in (None clears one), checked as an update checks them."""
    merged = {**(service.settings or {}), **with_minutes(changes)}
    return ServiceSettings(**{k: v for k, v in merged.items() if v is not None})


def recent_series(service: Service, *, session: Session, now: datetime, days: int = PREVIEW_DAYS) -> Series | None:
    """The service's records per minute over the last `days` days, as a replay reads them."""
    last = int(now.timestamp()) // 60
    first = last - days * 24 * MINUTES_PER_HOUR
    rows = session.execute(
        select(MinuteCount.minute, MinuteCount.count)
        .where(
            MinuteCount.hour.in_(buckets(first // MINUTES_PER_HOUR, last // MINUTES_PER_HOUR)),
            MinuteCount.service_id == service.id,
            MinuteCount.minute >= first,
            MinuteCount.minute <= last,
        )
        .order_by(MinuteCount.minute)
    ).all()
    if not rows:
        return None
    minutes = np.array([r[0] for r in rows], dtype=np.int64)
    counts = np.array([r[1] for r in rows], dtype=np.int64)
    return Series(service.name, minutes, counts)


def replay_recent(series: Series | None, params: Params, now: datetime) -> list[ReplayAlert]:
    """What the feed model would have alerted over `series` with `params`, up to `now`."""
    if series is None:
        return []
    return pair_events(series.service, replay_series(series, params, int(now.timestamp()) // 60))


def watched_since(names: Sequence[str], *, session: Session) -> dict[str, datetime]:
    """When each service began to be watched: its first record, or when it was set up before one."""
    rows = session.execute(select(Service.name, Service.created_at, Service.first_seen).where(Service.name.in_(names)))
    return {name: min(d for d in (created, first) if d is not None) for name, created, first in rows}
