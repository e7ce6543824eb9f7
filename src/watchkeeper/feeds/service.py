"""Services, feeds and files: reading and changing them. Callers own the transaction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper import errors
from watchkeeper.auth.customers import Customer
from watchkeeper.auth.principal import Principal
from watchkeeper.clock import Clock, known_zone
from watchkeeper.config import Settings
from watchkeeper.feeds.filecontrol import compile_sequence_pattern
from watchkeeper.feeds.ingest import prune_batches
from watchkeeper.feeds.model import FeedModel
from watchkeeper.feeds.models import (
    HOURS_PER_DAY,
    MINUTES_PER_HOUR,
    Feed,
    FeedState,
    FileFinding,
    HourCount,
    IngestedFile,
    MinuteCount,
    Service,
    ServiceStage,
    buckets,
    stored_span,
)
from watchkeeper.feeds.parse import Format
from watchkeeper.feeds.rhythm import Params
from watchkeeper.feeds.schemas import (
    CountPoint,
    ServiceOut,
    ServicePatch,
    ServiceSettings,
    validation_problems,
    with_minutes,
)
from watchkeeper.feeds.store import CustomerRules, mark_due
from watchkeeper.inputs import check_name


class NotFound(errors.NotFound):
    pass


class Invalid(errors.Invalid):
    pass


def service_out(service: Service) -> ServiceOut:
    return ServiceOut(
        name=service.name,
        stage=ServiceStage(service.stage),
        first_seen=service.first_seen,
        last_seen=service.last_seen,
        last_received_at=service.last_received_at,
        total_count=service.total_count,
        total_quantity=service.total_quantity,
        created_at=service.created_at,
        settings=ServiceSettings(**(service.settings or {})),
        customer=service.customer.name if service.customer else None,
    )


def owns_service(who: Principal, name: str, *, session: Session) -> bool:
    """Whether `who` may see the service `name`: staff see every one, a customer its own."""
    if who.staff:
        return True
    owned = select(Service.id).where(Service.name == name, Service.customer_id == who.customer_id)
    return session.scalar(owned) is not None


def visible_services(who: Principal, *, session: Session) -> list[str] | None:
    """The services `who` may see; None means all."""
    if who.staff:
        return None
    return list(session.scalars(select(Service.name).where(Service.customer_id == who.customer_id)))


def list_services(*, session: Session, stage: ServiceStage | None = None) -> list[Service]:
    query = select(Service).order_by(Service.name)
    if stage is not None:
        query = query.where(Service.stage == stage)
    return list(session.scalars(query))


def get_service(*, session: Session, name: str) -> Service:
    service = session.scalar(select(Service).where(Service.name == name))
    if service is None:
        raise NotFound(
            f"no service named {name!r}; services appear with their first record, "
            "or add one before it sends with `watchkeeper services add`"
        )
    return service


class Exists(errors.Conflict):
    pass


def add_service(*, session: Session, name: str, patch: ServicePatch, now: datetime) -> Service:
    """A service set up before its first record (a supplier about to start).

    It is watched from now as if its last record had come now: still being
    learned, it alerts past its max_silence (72 h unless set) if nothing comes.
    """
    try:
        name = check_name(name, "service", 200)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if session.scalar(select(Service.id).where(Service.name == name)) is not None:
        raise Exists(f"a service named {name!r} exists; `watchkeeper services set` changes it")
    # Like one found by its first record, it is the customer's whose name rule claims it, unless one is named.
    owner = CustomerRules(session).owner(name) if patch.customer is None else None
    session.add(
        Service(
            name=name,
            stage=ServiceStage.NEW,
            settings={},
            created_at=now,
            total_count=0,
            total_quantity=0.0,
            customer_id=owner,
        )
    )
    session.flush()
    service = update_service(session=session, name=name, patch=patch, now=now)
    mark_due(session, [service.id], now=now)
    return service


def update_service(*, session: Session, name: str, patch: ServicePatch, now: datetime) -> Service:
    """Change a service's stage, settings or customer.

    A new stage or setting (a snooze cleared, a lower max_silence, retired)
    applies at the feed watcher's next tick: the service is made due `now`,
    not left to a deadline worked out under the old settings.
    """
    service = get_service(session=session, name=name)
    if patch.settings is not None:
        try:
            given = with_minutes(patch.settings)
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
        merged = {**(service.settings or {}), **given}
        merged = {k: v for k, v in merged.items() if v is not None}
        try:
            checked = ServiceSettings(**merged)
        except ValidationError as exc:
            raise Invalid(validation_problems(exc)) from exc
        service.settings = checked.model_dump(mode="json", exclude_defaults=True)
    if patch.stage is not None:
        service.stage = patch.stage
    if patch.customer is not None:
        service.customer = _customer(session, patch.customer) if patch.customer else None
    if patch.settings is not None or patch.stage is not None:
        mark_due(session, [service.id], now=now)
    return service


def _customer(session: Session, name: str) -> Customer:
    found = session.scalar(select(Customer).where(Customer.name == name))
    if found is None:
        raise NotFound(f"no customer {name!r}; `watchkeeper customers list` shows them")
    return found


def service_counts(
    *, session: Session, name: str, resolution: str, since: datetime, until: datetime
) -> list[CountPoint]:
    """Per-minute or per-hour counts of a service between two instants (empty bins left out)."""
    service = get_service(session=session, name=name)
    model: type[MinuteCount | HourCount]
    if resolution == "minute":
        model, bucket, key, width, per_bucket = MinuteCount, MinuteCount.hour, MinuteCount.minute, 60, MINUTES_PER_HOUR
    else:
        model, bucket, key, width, per_bucket = HourCount, HourCount.day, HourCount.hour, 3600, HOURS_PER_DAY
    low, high = int(since.timestamp()) // width, int(until.timestamp()) // width
    span = stored_span(session, bucket)
    if span is None:
        return []
    wanted = buckets(max(low // per_bucket, span[0]), min(high // per_bucket, span[1]))
    rows = session.execute(
        select(key, model.count, model.quantity)
        .where(bucket.in_(wanted), model.service_id == service.id, key >= low, key <= high)
        .order_by(key)
    )
    return [CountPoint(at=datetime.fromtimestamp(k * width, UTC), count=c, quantity=q) for k, c, q in rows]


# -- feeds (how files from a supplier are read) -----------------------------------


def add_feed(
    *,
    session: Session,
    clock: Clock,
    name: str,
    format: Format | None = None,
    timezone: str | None = None,
    service_column: str | None = None,
    sequence_pattern: str | None = None,
    append: bool = False,
) -> Feed:
    if timezone:
        try:
            known_zone(timezone)
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
    if sequence_pattern:
        compile_sequence_pattern(sequence_pattern)
    feed = session.get(Feed, name) or Feed(name=name, created_at=clock.now())
    feed.format = format
    feed.timezone = timezone
    feed.service_column = service_column
    feed.sequence_pattern = sequence_pattern
    feed.append = append
    session.add(feed)
    return feed


def get_feed(*, session: Session, name: str) -> Feed | None:
    return session.get(Feed, name)


def list_feeds(*, session: Session) -> list[Feed]:
    return list(session.scalars(select(Feed).order_by(Feed.name)))


def list_files(*, session: Session, feed: str | None = None, limit: int = 100) -> list[IngestedFile]:
    query = select(IngestedFile).order_by(IngestedFile.received_at.desc(), IngestedFile.id.desc())
    if feed:
        query = query.where(IngestedFile.feed == feed)
    return list(session.scalars(query.limit(limit)))


def list_findings(*, session: Session, feed: str | None = None, limit: int = 100) -> list[FileFinding]:
    query = select(FileFinding).order_by(FileFinding.created_at.desc(), FileFinding.id.desc())
    if feed:
        query = query.where(FileFinding.feed == feed)
    return list(session.scalars(query.limit(limit)))


# -- retention ---------------------------------------------------------------------


def apply_retention(*, session: Session, clock: Clock, settings: Settings) -> dict[str, int]:
    """Drop minute counts past their retention, hour counts past theirs, old batch keys.

    Both tables lead with time, so each delete cuts a range off the head of its
    table, whatever the number of services.
    """
    now = clock.now()
    minute_floor = int((now - timedelta(days=settings.minute_retention_days)).timestamp()) // 60
    hour_floor = int((now - timedelta(days=settings.hour_retention_days)).timestamp()) // 3600
    removed = {
        "minute_counts": _delete_count(
            session,
            delete(MinuteCount).where(
                MinuteCount.hour <= minute_floor // MINUTES_PER_HOUR, MinuteCount.minute < minute_floor
            ),
        ),
        "hour_counts": _delete_count(
            session, delete(HourCount).where(HourCount.day <= hour_floor // HOURS_PER_DAY, HourCount.hour < hour_floor)
        ),
    }
    removed["usage_batches"] = prune_batches(session, now=now, settings=settings)
    return removed


def _delete_count(session: Session, statement: object) -> int:
    result = session.execute(statement)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


@dataclass
class Learned:
    profile: list[float]  # expected records per hour, 168 slots from Monday 00:00 local; NaN unknown
    weeks: int
    due_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": [None if math.isnan(v) else round(v, 2) for v in self.profile],
            "weeks": self.weeks,
            "due_at": self.due_at,
        }


def learned(*, session: Session, name: str) -> Learned | None:
    """What the feed model has learned of a service, None before its first evaluation."""
    service = get_service(session=session, name=name)
    state = session.get(FeedState, service.id)
    if state is None or state.model is None:
        return None
    model = FeedModel.from_bytes(state.model, Params())
    return Learned(model.profile().tolist(), int(model.weeks.max()), state.due_at)
