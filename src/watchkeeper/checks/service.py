"""Checks over a session: add, list, pause, resume, remove; pings; deadlines that pass.

Never commits: the request, the command or the job owns the transaction.
What a ping or a passed deadline finds is returned as findings, for the
route or the job to hand to alerts; this package never speaks to alerts.

A ping moves the check's state and its stored deadline `due_at`: a success
sets the next deadline from the schedule, a start gives the run its grace to
finish, a failure is down at once (nothing more is due until the next
success), a log entry changes nothing. A run id (`rid`) pairs a start with
its finish, so overlapping runs of one job are timed separately.
"""

from __future__ import annotations

import re
import secrets
import uuid as uuids
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from watchkeeper import due
from watchkeeper.checks.models import Check, CheckKind, CheckStatus, Ping, PingKind, ScheduleKind
from watchkeeper.checks.schedule import Schedule, ScheduleError, deadline, validate
from watchkeeper.errors import Conflict, Invalid, NotFound
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.inputs import check_name, is_unicode

BODY_LIMIT = 100 * 1024  # what a ping's body keeps, as Healthchecks does
MAX_RUN = timedelta(hours=72)  # a start older than this finishes no run
SOURCE = "checks"


@dataclass
class Pinged:
    ping: Ping
    findings: list[Finding] = field(default_factory=list)


def schedule_of(check: Check) -> Schedule:
    return Schedule(
        kind=check.schedule,
        period=timedelta(seconds=check.period_seconds),
        grace=timedelta(seconds=check.grace_seconds),
        expression=check.expression,
        tz=check.tz,
    )


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "check"


def add(
    name: str,
    *,
    session: Session,
    now: datetime,
    schedule: Schedule | None = None,
    kind: CheckKind = CheckKind.HEARTBEAT,
    slug: str | None = None,
    ping_key: str | None = None,
    service: str | None = None,
    customer_id: int | None = None,
    labels: dict[str, str] | None = None,
    success_keywords: Sequence[str] = (),
    failure_keywords: Sequence[str] = (),
) -> Check:
    """A new check, waiting for its first ping (a new check is never late)."""
    name = name.strip()
    try:
        check_name(name, "check", 200)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    _texts(service, *(labels or {}).keys(), *(labels or {}).values(), *success_keywords, *failure_keywords)
    if ping_key is not None and not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", ping_key):
        raise Invalid("a ping key is 8 to 64 letters, digits, '-' or '_'")
    if session.scalar(select(Check.id).where(Check.name == name)) is not None:
        raise Conflict(f"a check named {name!r} exists; pick another name or change that one")
    try:
        schedule = validate(schedule or Schedule())
    except ScheduleError as exc:
        raise Invalid(str(exc)) from exc
    slug = slugify(slug or name)
    if ping_key is not None and _by_slug(session, ping_key, slug) is not None:
        raise Conflict(f"the slug {slug!r} is taken under this ping key; give --slug")
    check = Check(
        name=name,
        uuid=str(uuids.uuid4()),
        slug=slug,
        ping_key=ping_key,
        kind=kind,
        schedule=schedule.kind,
        period_seconds=int(schedule.period.total_seconds()),
        grace_seconds=int(schedule.grace.total_seconds()),
        expression=schedule.expression,
        tz=schedule.tz,
        status=CheckStatus.NEW,
        service=service,
        customer_id=customer_id,
        labels=dict(labels or {}),
        success_keywords=[k for k in success_keywords if k],
        failure_keywords=[k for k in failure_keywords if k],
        settings={},
        firing=False,
        created_at=now,
    )
    session.add(check)
    session.flush()
    return check


def _texts(*texts: str | None) -> None:
    for text in texts:
        if text is not None and (len(text) > 200 or not text.isprintable() or not is_unicode(text)):
            raise Invalid(f"{text[:40]!r}: a service, label or keyword is at most 200 printable characters")


def new_ping_key() -> str:
    return secrets.token_urlsafe(16)


def list_checks(*, session: Session, customer_id: int | None = None) -> list[Check]:
    query = select(Check).order_by(Check.name)
    if customer_id is not None:
        query = query.where(Check.customer_id == customer_id)
    return list(session.scalars(query))


def get(ref: str, *, session: Session) -> Check:
    """The check named `ref`, or of uuid `ref`; NotFound."""
    check = session.scalar(select(Check).where(or_(Check.name == ref, Check.uuid == ref)))
    if check is None:
        raise NotFound(f"no check {ref!r}; `watchkeeper checks list` shows them")
    return check


def by_uuid(code: str, *, session: Session) -> Check | None:
    return session.scalar(select(Check).where(Check.uuid == code))


def _by_slug(session: Session, ping_key: str, slug: str) -> Check | None:
    return session.scalar(select(Check).where(Check.ping_key == ping_key, Check.slug == slug))


def by_slug(ping_key: str, slug: str, *, session: Session, now: datetime, create: bool = False) -> Check | None:
    """The check of `slug` under `ping_key`; with `create`, a new one when the key is known
    (a check holds it) and the slug is not: it takes the customer and schedule of that check."""
    check = _by_slug(session, ping_key, slug)
    if check is not None or not create:
        return check
    known = session.scalars(select(Check).where(Check.ping_key == ping_key).order_by(Check.id)).first()
    if known is None or slugify(slug) != slug:
        return None
    name = slug
    while session.scalar(select(Check.id).where(Check.name == name)) is not None:
        name = f"{slug}-{uuids.uuid4().hex[:6]}"
    return add(
        name,
        session=session,
        now=now,
        schedule=schedule_of(known),
        slug=slug,
        ping_key=ping_key,
        service=known.service,
        customer_id=known.customer_id,
    )


def last_pings(check: Check, *, session: Session, limit: int = 10) -> list[Ping]:
    query = select(Ping).where(Ping.check_id == check.id).order_by(Ping.at.desc(), Ping.id.desc()).limit(limit)
    return list(session.scalars(query))


def pause(check: Check, *, session: Session, now: datetime) -> list[Finding]:
    """Stop watching: nothing is due, and what was firing resolves. The next ping resumes it."""
    check.status = CheckStatus.PAUSED
    check.due_at = None
    return _resolve(check, now, "paused")


def resume(check: Check, *, session: Session, now: datetime) -> None:
    """Watch again from the next ping (as a new check: it is not late before it pings)."""
    if check.status is CheckStatus.PAUSED:
        check.status = CheckStatus.NEW
        check.due_at = None


def remove(check: Check, *, session: Session, now: datetime) -> list[Finding]:
    findings = _resolve(check, now, "removed")
    session.execute(delete(Ping).where(Ping.check_id == check.id))
    session.delete(check)
    session.flush()
    return findings


def prune_pings(*, session: Session, now: datetime, days: int) -> int:
    result = session.execute(delete(Ping).where(Ping.at < now - timedelta(days=days)))
    return int(getattr(result, "rowcount", 0) or 0)


# -- pings ---------------------------------------------------------------------------------


def classify(check: Check, kind: PingKind, body: bytes) -> PingKind:
    """What a success or failure ping counts as: a failure keyword in its body makes it a
    failure, else a success keyword a success; start and log pings are as sent."""
    if kind not in (PingKind.SUCCESS, PingKind.FAIL) or not (check.failure_keywords or check.success_keywords):
        return kind
    text = body.decode(errors="replace")
    if any(word in text for word in check.failure_keywords):
        return PingKind.FAIL
    if any(word in text for word in check.success_keywords):
        return PingKind.SUCCESS
    return kind


def ping(
    check: Check,
    kind: PingKind,
    *,
    session: Session,
    now: datetime,
    body: bytes = b"",
    exit_status: int | None = None,
    rid: str | None = None,
    user_agent: str = "",
    source: str = "",
) -> Pinged:
    """Record a ping and move the check; what it found.

    The check's row is read again and locked first (FOR UPDATE on PostgreSQL;
    a SQLite transaction holds the write lock from its start), so pings of one
    check at once, from the API or `watchkeeper run`, move it one after the other."""
    session.flush()  # what this transaction changed is kept by the read below
    session.refresh(check, with_for_update=True)
    return _record(check, kind, session, now, body, exit_status, rid, user_agent, source)


def ping_uuid(
    code: str,
    kind: PingKind,
    *,
    session: Session,
    now: datetime,
    body: bytes = b"",
    exit_status: int | None = None,
    rid: str | None = None,
    user_agent: str = "",
    source: str = "",
) -> Pinged | None:
    """As `ping`, for the check of uuid `code`, found and locked in one query; None when none has it."""
    check = session.scalar(_BY_UUID_LOCKED, {"code": code})
    if check is None:
        return None
    return _record(check, kind, session, now, body, exit_status, rid, user_agent, source)


def _record(
    check: Check,
    kind: PingKind,
    session: Session,
    now: datetime,
    body: bytes,
    exit_status: int | None,
    rid: str | None,
    user_agent: str,
    source: str,
) -> Pinged:
    if exit_status is not None:
        if not 0 <= exit_status <= 255:
            raise Invalid("an exit status is 0 to 255")
        kind = PingKind.SUCCESS if exit_status == 0 else PingKind.FAIL
    body = body[:BODY_LIMIT]
    kind = classify(check, kind, body)
    row = Ping(
        check_id=check.id,
        at=now,
        kind=kind,
        exit_status=exit_status,
        rid=rid,
        body=body,
        user_agent=user_agent[:200],
        source=source[:64],
    )
    pinged = Pinged(row)
    if kind is PingKind.START:
        _started(check, now, rid)
    elif kind is not PingKind.LOG:
        row.duration_seconds = _run_time(session, check, rid, now)
        pinged.findings = _finished(check, kind, now, rid, row.duration_seconds)
    session.add(row)
    session.flush()
    return pinged


def _started(check: Check, now: datetime, rid: str | None) -> None:
    check.started_at, check.started_rid = now, rid
    if check.status is not CheckStatus.DOWN:
        check.status = CheckStatus.STARTED
    finish_by = now + timedelta(seconds=check.grace_seconds)
    check.due_at = finish_by if check.due_at is None else min(check.due_at, finish_by)


def _finished(check: Check, kind: PingKind, now: datetime, rid: str | None, took: float | None) -> list[Finding]:
    check.last_ping_at = now
    if took is not None:
        check.last_duration_seconds = took
    if check.started_at is not None and (rid is None or rid == check.started_rid or kind is PingKind.FAIL):
        check.started_at = check.started_rid = None
    if kind is PingKind.FAIL:
        check.status = CheckStatus.DOWN
        check.due_at = None  # down until the next success; nothing more to find
        check.firing = True
        return [_finding(check, State.FIRING, now, "failed", f"check {check.name} reported a failure")]
    check.status = CheckStatus.UP
    check.due_at = deadline(schedule_of(check), now)
    if check.started_at is not None:  # another run is still going: it has its grace to finish
        check.status = CheckStatus.STARTED
        check.due_at = min(check.due_at, check.started_at + timedelta(seconds=check.grace_seconds))
    return _resolve(check, now, "succeeded")


# The last start or finish of a run (the same rid, within MAX_RUN): built once, not per ping.
def _last(of_rid: bool) -> Select[PingKind, datetime]:
    return (
        select(Ping.kind, Ping.at)
        .where(
            Ping.check_id == bindparam("check_id"),
            Ping.kind.in_((PingKind.START, PingKind.SUCCESS, PingKind.FAIL)),
            Ping.at >= bindparam("since"),
            Ping.rid == bindparam("rid") if of_rid else Ping.rid.is_(None),
        )
        .order_by(Ping.at.desc(), Ping.id.desc())
        .limit(1)
    )


_LAST_OF_RUN = {of_rid: _last(of_rid) for of_rid in (False, True)}
_BY_UUID_LOCKED = select(Check).where(Check.uuid == bindparam("code")).with_for_update()


def _run_time(session: Session, check: Check, rid: str | None, now: datetime) -> float | None:
    """Seconds since the start of this run (the last start of the same rid, not finished since).

    Read once the check is locked, not in the query that locks it: on PostgreSQL
    that query's snapshot is older than the lock, and misses a start committed meanwhile."""
    query = _LAST_OF_RUN[rid is not None]
    last = session.execute(query, {"check_id": check.id, "since": now - MAX_RUN, "rid": rid}).first()
    if last is None:
        return None
    kind, at = last.tuple()
    return (now - at).total_seconds() if kind is PingKind.START else None


# -- deadlines -----------------------------------------------------------------------------


def claim_due(*, session: Session, now: datetime, limit: int) -> list[Check]:
    """Up to `limit` heartbeats whose deadline passed, soonest first, claimed for this transaction."""
    return due.claim(session, Check, due=Check.due_at, now=now, limit=limit, where=[Check.kind == CheckKind.HEARTBEAT])


def evaluate(claimed: Sequence[Check], *, session: Session, now: datetime) -> list[Finding]:
    """The claimed checks missed their deadline: a run that began and did not finish
    within its grace is late, a ping that did not come is down. Nothing is due after."""
    findings = []
    for check in claimed:
        check.due_at = None
        if check.status is CheckStatus.PAUSED:
            continue
        check.firing = True
        if check.started_at is not None and now >= check.started_at + timedelta(seconds=check.grace_seconds):
            check.status = CheckStatus.LATE
            summary = f"check {check.name} started at {check.started_at:%Y-%m-%d %H:%M:%S}Z and did not finish"
            findings.append(_finding(check, State.FIRING, now, "late", summary))
            continue
        check.status = CheckStatus.DOWN
        since = f"since {check.last_ping_at:%Y-%m-%d %H:%M:%S}Z" if check.last_ping_at else "yet"
        findings.append(_finding(check, State.FIRING, now, "missed", f"check {check.name} has not pinged {since}"))
    return findings


def _resolve(check: Check, now: datetime, why: str) -> list[Finding]:
    if not check.firing:
        return []
    check.firing = False
    return [_finding(check, State.RESOLVED, now, why, f"check {check.name} {why}")]


def _finding(check: Check, state: State, now: datetime, reason: str, summary: str) -> Finding:
    labels = {**check.labels, "check": check.name, "kind": str(check.kind)}
    if check.service:
        labels["service"] = check.service
    if check.customer is not None:
        labels["customer"] = check.customer.name
    return Finding(
        dedup_key=f"check:{check.uuid}",
        source=SOURCE,
        service=check.service,
        severity=Severity.CRITICAL,
        state=state,
        summary=summary,
        observed_at=now,
        labels=labels,
        details={"reason": reason, "uuid": check.uuid, "schedule": _said(check)},
    )


def _said(check: Check) -> str:
    if check.schedule is ScheduleKind.PERIOD:
        return f"every {check.period_seconds} s, grace {check.grace_seconds} s"
    return f"{check.expression} ({check.tz}), grace {check.grace_seconds} s"


# -- views ---------------------------------------------------------------------------------


def check_view(check: Check) -> dict[str, Any]:
    return {
        "name": check.name,
        "uuid": check.uuid,
        "slug": check.slug,
        "ping_key": check.ping_key,
        "kind": check.kind,
        "status": check.status,
        "schedule": check.schedule,
        "period_seconds": check.period_seconds,
        "grace_seconds": check.grace_seconds,
        "expression": check.expression,
        "tz": check.tz,
        "service": check.service,
        "customer": check.customer.name if check.customer is not None else None,
        "labels": check.labels,
        "success_keywords": check.success_keywords,
        "failure_keywords": check.failure_keywords,
        "due_at": check.due_at,
        "last_ping_at": check.last_ping_at,
        "last_duration_seconds": check.last_duration_seconds,
        "created_at": check.created_at,
    }


def ping_view(row: Ping) -> dict[str, Any]:
    return {
        "at": row.at,
        "kind": row.kind,
        "exit_status": row.exit_status,
        "rid": row.rid,
        "body": row.body.decode(errors="replace"),
        "user_agent": row.user_agent,
        "source": row.source,
        "duration_seconds": row.duration_seconds,
    }
