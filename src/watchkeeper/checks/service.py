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
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, TextClause, bindparam, delete, func, insert, or_, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from watchkeeper import due
from watchkeeper.checks import probe_rules, probes
from watchkeeper.checks.models import Check, CheckKind, CheckStatus, Ping, PingKind, ProbeResultRow, ScheduleKind
from watchkeeper.checks.probe_rules import ProbeState
from watchkeeper.checks.result import ProbeResult
from watchkeeper.checks.runner import Planned
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
    """Watch again from the next ping (as a new check: it is not late before it pings);
    a probe runs again in its next slot, its damping started afresh; a PBX is looked at at once."""
    if check.status is CheckStatus.PAUSED:
        check.status = CheckStatus.NEW
        check.due_at = None
        if is_probe(check):
            check.probe_state = {}
            check.due_at = next_probe_at(check, now)
        elif check.kind is CheckKind.AMI:
            check.due_at = now


def remove(check: Check, *, session: Session, now: datetime, of_pbx: bool = False) -> list[Finding]:
    """The check and its pings; a PBX's own checks go only with their PBX (`of_pbx`, pbxes.remove)."""
    if not of_pbx and (check.kind is CheckKind.AMI or (check.kind is CheckKind.SIP and "pbx" in check.labels)):
        pbx = check.labels.get("pbx", check.name)
        raise Conflict(f"check {check.name} is PBX {pbx}'s; `watchkeeper pbx remove {pbx}` removes the PBX's checks")
    findings = _resolve(check, now, "removed")
    session.execute(delete(Ping).where(Ping.check_id == check.id))
    session.execute(delete(ProbeResultRow).where(ProbeResultRow.check_id == check.id))
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


# -- a ping in one statement (PostgreSQL) ----------------------------------------------------
#
# The pings that find nothing (a success of a check not firing, on a period schedule; a start;
# a log entry) without a body, as one statement each, outside a transaction: the check's row is
# read, moved and updated, and the ping inserted with its run time, as `_record` would. The
# UPDATE takes the row's lock, which serialises the statement with every other ping of the
# check, and a success's UPDATE applies only to the row version it read (its xmin): when
# another ping changed the row after the statement's snapshot was taken (every start and
# finish does; the UPDATE waits for one still in progress), the run's start read from that
# snapshot may be stale, so the statement stores nothing and the ping takes the full path,
# which reads the start once it holds the lock. A start reads nothing but the row it updates,
# whose latest version its UPDATE sees.

_KINDS = "'start', 'success', 'fail'"
_RUN_TIME = f"""(SELECT CASE WHEN p.kind = 'start' THEN EXTRACT(EPOCH FROM CAST(:now AS timestamptz) - p.at) END
     FROM pings p
     WHERE p.check_id = c.id AND p.kind IN ({_KINDS}) AND p.at >= :since
       AND p.rid IS NOT DISTINCT FROM CAST(:rid AS varchar)
     ORDER BY p.at DESC, p.id DESC LIMIT 1)"""
_INSERT = """INSERT INTO pings (check_id, at, kind, exit_status, rid, body, user_agent, source, duration_seconds)
SELECT id, :now, :kind, :exit_status, :rid, ''::bytea, :user_agent, :source, took FROM moved
RETURNING id"""
_AT_ONCE: dict[PingKind, TextClause] = {
    PingKind.SUCCESS: sql(
        f"""WITH cur AS (
    SELECT id, xmin AS version, started_at, started_rid, period_seconds, grace_seconds,
           CAST({_RUN_TIME} AS float8) AS took,
           started_at IS NOT NULL AND (CAST(:rid AS varchar) IS NULL OR started_rid = :rid) AS finishes
    FROM checks c
    WHERE uuid = :code AND kind = 'heartbeat' AND schedule = 'period' AND NOT firing
), moved AS (
    UPDATE checks SET
        last_ping_at = :now,
        last_duration_seconds = COALESCE(cur.took, checks.last_duration_seconds),
        started_at = CASE WHEN cur.finishes THEN NULL ELSE cur.started_at END,
        started_rid = CASE WHEN cur.finishes THEN NULL ELSE cur.started_rid END,
        status = CASE WHEN cur.finishes OR cur.started_at IS NULL THEN 'up' ELSE 'started' END,
        due_at = CASE WHEN cur.finishes OR cur.started_at IS NULL
            THEN CAST(:now AS timestamptz) + make_interval(secs => cur.period_seconds + cur.grace_seconds)
            ELSE LEAST(CAST(:now AS timestamptz) + make_interval(secs => cur.period_seconds + cur.grace_seconds),
                       cur.started_at + make_interval(secs => cur.grace_seconds))
        END
    FROM cur WHERE checks.id = cur.id AND checks.xmin = cur.version
    RETURNING checks.id, cur.took
)
{_INSERT}"""
    ),
    PingKind.START: sql(
        f"""WITH moved AS (
    UPDATE checks SET
        started_at = :now,
        started_rid = :rid,
        status = CASE WHEN status = 'down' THEN status ELSE 'started' END,
        due_at = LEAST(due_at, CAST(:now AS timestamptz) + make_interval(secs => grace_seconds))
    WHERE uuid = :code AND kind = 'heartbeat'
    RETURNING id, CAST(NULL AS float8) AS took
)
{_INSERT}"""
    ),
    PingKind.LOG: sql(
        f"""WITH moved AS (SELECT id, CAST(NULL AS float8) AS took FROM checks
    WHERE uuid = :code AND kind = 'heartbeat')
{_INSERT}"""
    ),
}


def ping_at_once(
    code: str,
    kind: PingKind,
    *,
    session: Session,
    now: datetime,
    exit_status: int | None = None,
    rid: str | None = None,
    user_agent: str = "",
    source: str = "",
) -> bool:
    """A ping without a body of the check of uuid `code`, stored in one statement on PostgreSQL
    when it finds nothing; False when it was not stored so (no such heartbeat, SQLite, a ping that
    may find something or needs the check's schedule read, or another ping of the check came
    between): `ping_uuid` then stores it, in a transaction of its own.

    The statement commits as it runs (the session's connection is set to autocommit): it is
    the first of its session, and the last."""
    if exit_status is not None and exit_status != 0:
        return False  # a failure: it fires
    statement = _AT_ONCE.get(kind)
    if statement is None or session.get_bind().dialect.name != "postgresql":
        return False
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    values = {
        "code": code,
        "now": now,
        "since": now - MAX_RUN,
        "kind": kind.value,
        "exit_status": exit_status,
        "rid": rid,
        "user_agent": user_agent[:200],
        "source": source[:64],
    }
    return connection.execute(statement, values).first() is not None


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
    kind, at = last
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
        "settings": check.settings,
        "fail_after": check.fail_after,
        "recover_after": check.recover_after,
        "last_run_at": check.last_run_at,
        "last_up": check.last_up,
        "last_latency": check.last_latency,
        "last_error": check.last_error,
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


def result_view(row: ProbeResultRow) -> dict[str, Any]:
    return {"at": row.at, "up": row.up, "latency": row.latency, "status": row.status, "reason": row.reason}


# -- probes --------------------------------------------------------------------------------

PROBES = (CheckKind.HTTP, CheckKind.TCP, CheckKind.TLS, CheckKind.DNS, CheckKind.SIP)
MIN_INTERVAL = timedelta(seconds=10)
MAX_INTERVAL = timedelta(days=1)
REASON = 300  # characters of a result's reason kept


def is_probe(check: Check) -> bool:
    return check.kind in PROBES


def next_probe_at(check: Check, now: datetime) -> datetime:
    """The check's first slot after `now`: its interval's grid, shifted by its own offset."""
    interval = timedelta(seconds=check.period_seconds)
    return probe_rules.next_run(now, interval, probe_rules.jitter(check.name, interval))


def add_probe(
    name: str,
    kind: CheckKind | str,
    options: dict[str, Any],
    *,
    session: Session,
    now: datetime,
    interval: timedelta = timedelta(seconds=60),
    fail_after: int = 2,
    recover_after: int = 1,
    service: str | None = None,
    customer_id: int | None = None,
    labels: dict[str, str] | None = None,
) -> Check:
    """A new probe check of `kind` (http, tcp, tls, dns, sip) with the probe's options
    (probes.HttpProbe etc.), run every `interval` from its first slot after `now`."""
    probe: CheckKind | None = next((k for k in PROBES if k.value == kind), None)
    if probe is None:
        raise Invalid(f"a probe is one of: {', '.join(PROBES)}")
    try:
        spec = probes.spec_of(probe, options)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL or interval % timedelta(seconds=1):
        raise Invalid("a probe's interval is whole seconds, from 10 s to a day (e.g. --interval 60s)")
    for said_as, count in (("fail after", fail_after), ("recover after", recover_after)):
        if not 1 <= count <= 100:
            raise Invalid(f"{said_as} is 1 to 100 results in a row, not {count}")
    check = add(name, session=session, now=now, kind=probe, service=service, customer_id=customer_id, labels=labels)
    check.period_seconds = int(interval.total_seconds())
    check.grace_seconds = 0
    check.settings = probes.settings_of(spec)
    check.fail_after, check.recover_after = fail_after, recover_after
    check.probe_state = {}
    check.due_at = next_probe_at(check, now)
    session.flush()
    return check


def claim_probes(*, session: Session, now: datetime, limit: int) -> list[Planned]:
    """Up to `limit` probe checks whose run is due, claimed: each is moved to its next slot
    before this transaction commits (a lease the probe's result does not need to change, so
    a worker that dies mid-batch loses one run of each, never the schedule), and what each
    runs is read from its options, so the probing holds no row and no transaction."""
    if limit <= 0:
        return []
    claimed = due.claim(session, Check, due=Check.due_at, now=now, limit=limit, where=[Check.kind.in_(PROBES)])
    planned = []
    for check in claimed:
        check.due_at = next_probe_at(check, now)
        try:
            spec = probes.spec_of(check.kind, check.settings)
        except ValueError as exc:
            target = str(check.settings.get("url") or check.settings.get("host") or check.settings.get("name") or "")
            planned.append(Planned(check.id, check.kind, target or check.name, None, f"cannot run: {exc}"))
            continue
        planned.append(Planned(check.id, check.kind, spec.target, spec))
    return planned


def _state(stored: dict[str, Any]) -> ProbeState:
    since = stored.get("failing_since")
    severity = stored.get("severity")
    return ProbeState(
        up=bool(stored.get("up", True)),
        failures=int(stored.get("failures", 0)),
        successes=int(stored.get("successes", 0)),
        failing_since=datetime.fromisoformat(since) if since else None,
        severity=Severity(severity) if severity else None,
    )


def _stored(state: ProbeState) -> dict[str, Any]:
    return {
        "up": state.up,
        "failures": state.failures,
        "successes": state.successes,
        "failing_since": state.failing_since.isoformat() if state.failing_since else None,
        "severity": str(state.severity) if state.severity else None,
    }


def record_results(results: Sequence[tuple[int, ProbeResult]], *, session: Session, now: datetime) -> list[Finding]:
    """Store each (check id, result), move each check through the damping (probe_rules.step),
    and what fires or resolves. A check removed or paused while it was probed is left as it is."""
    if not results:
        return []
    ids = sorted({check_id for check_id, _ in results})
    checks = {c.id: c for c in session.scalars(select(Check).where(Check.id.in_(ids)).with_for_update())}
    rows: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for check_id, result in results:
        check = checks.get(check_id)
        if check is None or check.status is CheckStatus.PAUSED:
            continue
        reason = result.error or str(result.detail.get("reason") or "")
        rows.append(
            {
                "check_id": check_id,
                "at": result.observed_at,
                "up": result.up,
                "latency": result.latency,
                "status": result.status,
                "reason": reason[:REASON],
            }
        )
        moved = probe_rules.step(
            _state(check.probe_state), result, fail_after=check.fail_after, recover_after=check.recover_after
        )
        check.probe_state = _stored(moved.state)
        check.status = CheckStatus.UP if moved.state.up else CheckStatus.DOWN
        check.last_run_at, check.last_up, check.last_latency = result.observed_at, result.up, result.latency
        check.last_error = result.error[:REASON] or None
        if moved.change is probe_rules.Change.NONE:
            continue
        check.firing = moved.change is probe_rules.Change.FIRE
        findings.append(_probe_finding(check, moved.state, result))
    if rows:
        session.execute(insert(ProbeResultRow), rows)
    return findings


def _probe_finding(check: Check, state: ProbeState, result: ProbeResult) -> Finding:
    labels = {**check.labels}
    if check.service:
        labels["service"] = check.service
    if check.customer is not None:
        labels["customer"] = check.customer.name
    finding = probe_rules.finding_for(check.name, labels, state, result)
    # One alert per check, whatever fires it: a pause or removal resolves it by this key.
    return replace(finding, dedup_key=f"check:{check.uuid}", details={**finding.details, "uuid": check.uuid})


def last_results(check: Check, *, session: Session, limit: int = 10) -> list[ProbeResultRow]:
    query = (
        select(ProbeResultRow)
        .where(ProbeResultRow.check_id == check.id)
        .order_by(ProbeResultRow.at.desc(), ProbeResultRow.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def prune_probe_results(*, session: Session, now: datetime, days: int) -> int:
    result = session.execute(delete(ProbeResultRow).where(ProbeResultRow.at < now - timedelta(days=days)))
    return int(getattr(result, "rowcount", 0) or 0)


def results_by_day(
    check_ids: Sequence[int], days: Sequence[date], *, session: Session
) -> dict[int, list[tuple[int, int] | None]]:
    """For each check, each UTC day's (probe results up, all results), None for a day with none."""
    out: dict[int, list[tuple[int, int] | None]] = {cid: [None] * len(days) for cid in check_ids}
    if not check_ids:
        return out
    for n, day in enumerate(days):
        start = datetime.combine(day, time(), UTC)
        rows = session.execute(
            select(ProbeResultRow.check_id, ProbeResultRow.up, func.count())
            .where(
                ProbeResultRow.check_id.in_(list(check_ids)),
                ProbeResultRow.at >= start,
                ProbeResultRow.at < start + timedelta(days=1),
            )
            .group_by(ProbeResultRow.check_id, ProbeResultRow.up)
        )
        for cid, up, count in rows:
            up_n, total = out[cid][n] or (0, 0)
            out[cid][n] = (up_n + (int(count) if up else 0), total + int(count))
    return out
