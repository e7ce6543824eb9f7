"""Plans, customers, contacts and cases with SLA clocks. Services never commit: the caller owns the transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from watchkeeper import due
from watchkeeper.auth.customers import customer_by_id as customer_by_id
from watchkeeper.auth.customers import get_customer as get_customer
from watchkeeper.auth.customers import list_customers as list_customers
from watchkeeper.auth.users import find_user, get_user
from watchkeeper.bus import publish
from watchkeeper.db import get_existing
from watchkeeper.feeds.models import Service
from watchkeeper.inputs import check_channel, check_name
from watchkeeper.support import sla
from watchkeeper.support.calendar import Calendar
from watchkeeper.support.events import CaseBreached
from watchkeeper.support.models import Case, CaseEntry, CaseIncident, Contact, Customer, SlaBreach, SupportPlan
from watchkeeper.support.models import ContactRole as ContactRole
from watchkeeper.support.models import EntryKind as EntryKind
from watchkeeper.support.sla import CaseFacts, CaseStatus, ClockState, Priority, Target, Targets

# ---------------------------------------------------------------- plans


def add_plan(
    *,
    session: Session,
    now: datetime,
    name: str,
    hours: str,
    timezone: str = "UTC",
    holidays: str | None = None,
    closed_days: list[date] | None = None,
    targets: dict[Priority, Targets] | None = None,
    auto_case: bool = True,
    auto_enquire: bool = False,
) -> SupportPlan:
    """`hours` is '24x7' or like 'Mon-Fri 08:00-18:00'; targets are business time per priority."""
    name, holidays = name.strip(), (holidays or "").strip() or None
    check_name(name, "plan")
    closed = frozenset(closed_days or [])
    Calendar.parse(hours, timezone=timezone, holidays=holidays, closed=closed)  # raises with what to fix
    if session.scalar(select(SupportPlan.id).where(SupportPlan.name == name)) is not None:
        raise ValueError(f"a plan named {name!r} exists; `watchkeeper plans list` shows them")
    row = SupportPlan(
        name=name,
        hours=hours,
        timezone=timezone,
        holidays=holidays,
        closed_days=[d.isoformat() for d in sorted(closed)],
        targets=_targets_json(targets or {}),
        auto_case=auto_case,
        auto_enquire=auto_enquire,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


# An SLA target is whole minutes of business time, a minute to a year: "30s"
# would be stored as 0 (a case born breached, its breach never escalated) and
# "99999999d" would make every case of the plan fail to open.
LONGEST_TARGET = timedelta(days=366)


def _targets_json(targets: dict[Priority, Targets]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for priority, target in targets.items():
        for kind in Target:
            value = target.of(kind)
            if value is not None and not timedelta(minutes=1) <= value <= LONGEST_TARGET:
                raise ValueError(
                    f"{priority} {kind.value}: a target is a minute to a year of business time, not {value}"
                )
        out[priority] = {t.value: int(v.total_seconds() // 60) for t in Target if (v := target.of(t)) is not None}
    return out


def plan_rule(row: SupportPlan, *, timezone: str | None = None) -> sla.Plan:
    """The plan's rules; `timezone` (the customer's own) overrides the plan's."""
    calendar = Calendar.parse(
        row.hours,
        timezone=timezone or row.timezone,
        holidays=row.holidays,
        closed=frozenset(date.fromisoformat(d) for d in row.closed_days),
    )
    targets = {
        Priority(p): Targets(**{name: timedelta(minutes=minutes) for name, minutes in values.items()})
        for p, values in row.targets.items()
    }
    return sla.Plan(row.name, calendar, targets)


def get_plan(name: str, *, session: Session) -> SupportPlan:
    row = session.scalar(select(SupportPlan).where(SupportPlan.name == name))
    if row is None:
        raise LookupError(f"no support plan {name!r}; `watchkeeper plans list` shows them")
    return row


def get_plan_by_id(plan_id: int, *, session: Session) -> SupportPlan:
    return get_existing(session, SupportPlan, plan_id, missing=f"no support plan {plan_id}")


def list_plans(*, session: Session) -> list[SupportPlan]:
    return list(session.scalars(select(SupportPlan).order_by(SupportPlan.name)))


# ---------------------------------------------------------------- customers


def add_customer(
    *,
    session: Session,
    now: datetime,
    name: str,
    plan: str,
    service_pattern: str | None = None,
    timezone: str | None = None,
) -> Customer:
    name = check_name(name.strip(), "customer", 200)
    if timezone is not None:
        Calendar(timezone=timezone, always_open=True).check()
    if session.scalar(select(Customer.id).where(Customer.name == name)) is not None:
        raise ValueError(f"a customer named {name!r} exists")
    if service_pattern is not None:
        try:
            re.compile(service_pattern)
        except re.error as exc:
            raise ValueError(f"{service_pattern!r} is not a regular expression ({exc})") from exc
    row = Customer(
        name=name.strip(),
        plan_id=get_plan(plan, session=session).id,
        service_pattern=service_pattern,
        timezone=timezone,
        created_at=now,
    )
    session.add(row)
    session.flush()
    if service_pattern is not None:
        claim_services(row, session=session)
    return row


def claim_services(customer: Customer, *, session: Session) -> list[str]:
    """Assign the unassigned services whose names match the customer's pattern; returns their names."""
    if not customer.service_pattern:
        return []
    pattern = re.compile(customer.service_pattern)
    names = [
        s for s in session.scalars(select(Service.name).where(Service.customer_id.is_(None))) if pattern.fullmatch(s)
    ]
    if names:
        session.execute(update(Service).where(Service.name.in_(names)).values(customer_id=customer.id))
    return names


def assign_service(service: str, customer: str, *, session: Session, move: bool = False) -> None:
    """Give `service` to `customer`; one that is another customer's moves only when `move` says so."""
    row = session.scalar(select(Service).where(Service.name == service))
    if row is None:
        raise LookupError(f"no service {service!r}; `watchkeeper services list` shows them")
    target = get_customer(customer, session=session)
    if row.customer_id not in (None, target.id) and not move:
        current = session.get(Customer, row.customer_id)
        raise ValueError(
            f"{service} is {current.name if current else 'another customer'}'s; "
            f'say so to move it to {target.name} (--move, or "move": true)'
        )
    row.customer_id = target.id


def customer_plan(customer: Customer, *, session: Session) -> sla.Plan:
    return plan_rule(get_plan_by_id(customer.plan_id, session=session), timezone=customer.timezone)


def customer_of_service(service: str, *, session: Session) -> Customer | None:
    return session.scalar(
        select(Customer).join(Service, Service.customer_id == Customer.id).where(Service.name == service)
    )


def services_of(customer: Customer, *, session: Session) -> list[str]:
    return list(session.scalars(select(Service.name).where(Service.customer_id == customer.id).order_by(Service.name)))


def add_contact(*, session: Session, customer: str, name: str, role: ContactRole, channel: str) -> Contact:
    name, channel = check_name(name.strip(), "contact", 200), check_channel(channel)
    row = Contact(customer_id=get_customer(customer, session=session).id, name=name, role=role, channel=channel)
    session.add(row)
    session.flush()
    return row


def contacts_of(customer: Customer, *, session: Session, role: ContactRole | None = None) -> list[Contact]:
    query = select(Contact).where(Contact.customer_id == customer.id).order_by(Contact.id)
    if role is not None:
        query = query.where(Contact.role == role)
    return list(session.scalars(query))


# ---------------------------------------------------------------- cases


def log_entry(
    case: Case, kind: EntryKind, text: str, *, author: str, at: datetime, session: Session, **data: object
) -> CaseEntry:
    entry = CaseEntry(case_id=case.id, at=at, kind=kind, author=author, text=text[:8000], data=data)
    session.add(entry)
    return entry


TEXT_LIMIT = 8000  # a case's description, a reply or a note


def _check_text(text: str, what: str, limit: int) -> None:
    """Refused rather than cut: what a person wrote is kept whole or not taken."""
    if len(text) > limit:
        raise ValueError(f"{what} is at most {limit:,} characters; this one has {len(text):,}")
    if "\x00" in text:
        raise ValueError(f"{what} may not hold a NUL character")


def open_case(
    *,
    session: Session,
    now: datetime,
    customer: str,
    title: str,
    priority: Priority,
    author: str,
    description: str = "",
    incident_id: int | None = None,
) -> Case:
    if not title.strip():
        raise ValueError("a case needs a title")
    _check_text(title.strip(), "a case's title", 500)
    _check_text(description, "a case's description", TEXT_LIMIT)
    row = Case(
        customer_id=get_customer(customer, session=session).id,
        title=title.strip(),
        priority=priority,
        status=CaseStatus.NEW,
        opened_by=author,
        created_at=now,
        escalation_level=0,
        incident_ids=[incident_id] if incident_id else [],
    )
    session.add(row)
    session.flush()
    log_entry(row, EntryKind.OPENED, description or title, author=author, at=now, session=session, priority=priority)
    session.flush()
    refresh_due(row, session=session, now=now)
    return row


def get_case(case_id: int, *, session: Session) -> Case:
    return get_existing(session, Case, case_id, missing=f"no case {case_id}; `watchkeeper cases list` shows them")


def entries(case: Case, *, session: Session) -> list[CaseEntry]:
    return list(
        session.scalars(select(CaseEntry).where(CaseEntry.case_id == case.id).order_by(CaseEntry.at, CaseEntry.id))
    )


def reply(case_id: int, text: str, *, public: bool, author: str, session: Session, now: datetime) -> CaseEntry:
    """A public reply (the customer sees it; it answers the first-response and update clocks) or an internal note."""
    case = get_case(case_id, session=session)
    if not text.strip():
        raise ValueError("say something")
    _check_text(text.strip(), "a reply", TEXT_LIMIT)
    if case.status == CaseStatus.CLOSED and public:
        raise ValueError(f"case {case_id} is closed; open a new case to write to the customer")
    entry = log_entry(
        case, EntryKind.PUBLIC if public else EntryKind.INTERNAL, text.strip(), author=author, at=now, session=session
    )
    if public and case.status == CaseStatus.NEW:
        case.status = CaseStatus.OPEN
        log_entry(
            case,
            EntryKind.STATUS,
            "new -> open (first reply)",
            author=author,
            at=now,
            session=session,
            status=CaseStatus.OPEN,
        )
    session.flush()
    refresh_due(case, session=session, now=now)
    return entry


def customer_reply(case_id: int, text: str, *, author: str, session: Session, now: datetime) -> CaseEntry:
    """The customer writes on their case; a case waiting on them opens again and its clocks run."""
    case = get_case(case_id, session=session)
    if not text.strip():
        raise ValueError("say something")
    _check_text(text.strip(), "a reply", TEXT_LIMIT)
    if case.status == CaseStatus.CLOSED:
        raise ValueError(f"case {case_id} is closed; open a new case instead")
    entry = log_entry(case, EntryKind.CUSTOMER, text.strip(), author=author, at=now, session=session)
    if case.status in (CaseStatus.PENDING_CUSTOMER, CaseStatus.RESOLVED):
        log_entry(
            case,
            EntryKind.STATUS,
            f"{case.status} -> open (the customer wrote)",
            author=author,
            at=now,
            session=session,
            status=CaseStatus.OPEN,
        )
        case.status = CaseStatus.OPEN
    session.flush()
    refresh_due(case, session=session, now=now)
    tell_assignee(
        case,
        f"customer:{entry.id}",
        f"Case {case.id}: {author} wrote",
        f"{case.title}\n\n{text.strip()}",
        session=session,
        now=now,
    )
    return entry


PRIVATE = (EntryKind.INTERNAL,)  # work-log entries a customer never sees


def set_status(case_id: int, status: CaseStatus, *, author: str, session: Session, now: datetime) -> Case:
    case = get_case(case_id, session=session)
    if case.status == CaseStatus.CLOSED:
        raise ValueError(f"case {case_id} is closed; open a new case instead")
    if status == case.status:
        return case
    if status == CaseStatus.NEW:
        raise ValueError(
            f"case {case_id} is {case.status}: a case is new only until it is worked; "
            "set it to open to take it up again"
        )
    log_entry(
        case, EntryKind.STATUS, f"{case.status} -> {status}", author=author, at=now, session=session, status=status
    )
    case.status = status
    session.flush()
    refresh_due(case, session=session, now=now)
    return case


def set_priority(case_id: int, priority: Priority, *, author: str, session: Session, now: datetime) -> Case:
    case = get_case(case_id, session=session)
    if priority != case.priority:
        log_entry(
            case,
            EntryKind.PRIORITY,
            f"{case.priority} -> {priority}",
            author=author,
            at=now,
            session=session,
            priority=priority,
        )
        case.priority = priority
        session.flush()
        refresh_due(case, session=session, now=now)
    return case


def facts(case: Case, *, session: Session, log: list[CaseEntry] | None = None) -> CaseFacts:
    """The clock facts of a case, from its work log (read here unless `log` is given)."""
    statuses: list[tuple[datetime, CaseStatus]] = [(case.created_at, CaseStatus.NEW)]
    replies = []
    for entry in entries(case, session=session) if log is None else log:
        if entry.kind == EntryKind.STATUS:
            statuses.append((entry.at, CaseStatus(entry.data["status"])))
        elif entry.kind == EntryKind.PUBLIC:
            replies.append(entry.at)
    return CaseFacts(case.created_at, statuses, replies)


def clocks(case: Case, *, session: Session, now: datetime, log: list[CaseEntry] | None = None) -> list[sla.Reading]:
    plan = customer_plan(customer_by_id(case.customer_id, session=session), session=session)
    return sla.readings(plan, Priority(case.priority), facts(case, session=session, log=log), now)


def refresh_due(case: Case, *, session: Session, now: datetime, readings: list[sla.Reading] | None = None) -> None:
    """Store when the next clock warns or breaches, as the case's due row."""
    readings = clocks(case, session=session, now=now) if readings is None else readings
    upcoming = [r.next_due for r in readings if r.next_due is not None]
    case.due_at = min(upcoming) if upcoming else None


def process_due(*, session: Session, now: datetime, limit: int = 200) -> int:
    """Warn at 80 % and escalate at breach for cases whose clocks are due. Returns how many were looked at."""
    claimed = claim_due(session=session, now=now, limit=limit)
    check_clocks(claimed, session=session, now=now)
    return len(claimed)


def claim_due(*, session: Session, now: datetime, limit: int) -> list[Case]:
    """Up to `limit` cases whose next SLA warning or breach has come, claimed for this transaction."""
    return due.claim(session, Case, due=Case.due_at, now=now, limit=limit)


def check_clocks(claimed: Sequence[Case], *, session: Session, now: datetime) -> None:
    """Warn at 80 % and escalate at breach, once each, and store when each case is due next."""
    for case in claimed:
        log = entries(case, session=session)
        said = (EntryKind.SLA_WARNING, EntryKind.SLA_BREACH)
        logged = {(e.kind, e.data.get("target")) for e in log if e.kind in said}
        # Warnings and breaches change no clock, so one reading serves both steps.
        readings = clocks(case, session=session, now=now, log=log)
        for clock in readings:
            _record_clock(case, clock, logged, session=session, now=now)
        refresh_due(case, session=session, now=now, readings=readings)


def _record_clock(
    case: Case, clock: sla.Reading, logged: set[tuple[EntryKind, object]], *, session: Session, now: datetime
) -> None:
    # The update clock restarts with every reply, so its warnings are keyed by the reply it waits on.
    since = clock.since.isoformat() if clock.since else ""
    target = clock.target if clock.target != Target.UPDATE else f"update@{since}"
    if clock.state is ClockState.BREACHED and (EntryKind.SLA_BREACH, target) not in logged:
        case.escalation_level += 1
        log_entry(
            case,
            EntryKind.SLA_BREACH,
            f"{clock.target} target of {clock.limit} breached at "
            f"{clock.breached_at:%Y-%m-%d %H:%M} UTC; escalated to level {case.escalation_level}",
            author="watchkeeper",
            at=now,
            session=session,
            target=target,
        )
        session.add(
            SlaBreach(
                case_id=case.id,
                customer_id=case.customer_id,
                target=clock.target,
                priority=case.priority,
                breached_at=clock.breached_at or now,
            )
        )
        publish(session, CaseBreached(case.id, case.customer_id, target, case.priority, case.escalation_level, now))
        what = f"{clock.target} target of {clock.limit} breached"
        _tell_escalation(case, what, target, session=session, now=now)
        tell_assignee(
            case,
            f"breach:{target}",
            f"Case {case.id} ({case.priority}): {what}",
            f"{case.title}\n\n{what}; escalation level {case.escalation_level}.",
            session=session,
            now=now,
        )
    elif clock.state is ClockState.RUNNING and clock.warn_at is None and (EntryKind.SLA_WARNING, target) not in logged:
        warning = f"{clock.target} at 80 % of {clock.limit}; breaches at {clock.due_at:%Y-%m-%d %H:%M} UTC"
        log_entry(case, EntryKind.SLA_WARNING, warning, author="watchkeeper", at=now, session=session, target=target)
        tell_assignee(
            case,
            f"warning:{target}",
            f"Case {case.id} ({case.priority}): {warning}",
            f"{case.title}\n\n{warning}",
            session=session,
            now=now,
        )


def assign(case_id: int, assignee: str | None, *, author: str, session: Session, now: datetime) -> Case:
    """Give the case to one of the operator's staff (None: to nobody); they are told on their channels."""
    case = get_case(case_id, session=session)
    if case.status == CaseStatus.CLOSED:
        raise ValueError(f"case {case_id} is closed; open a new case instead")
    if assignee is not None and get_user(assignee, session=session).role == "customer":
        raise ValueError(f"{assignee} is a customer's user; cases go to the operator's staff")
    if assignee == case.assignee:
        return case
    entry = log_entry(
        case,
        EntryKind.ASSIGNED,
        f"assigned to {assignee}" if assignee else "unassigned",
        author=author,
        at=now,
        session=session,
        assignee=assignee,
    )
    case.assignee = assignee
    session.flush()
    if assignee is not None and assignee != author:
        tell_assignee(
            case,
            f"assigned:{entry.id}",
            f"Case {case.id} ({case.priority}) is yours: {case.title}",
            f"{author} assigned case {case.id} to you.\n\n{case.title}",
            session=session,
            now=now,
        )
    return case


def tell_assignee(case: Case, reason: str, title: str, body: str, *, session: Session, now: datetime) -> int:
    """Tell the case's assignee on each of their channels, through the outbox. Returns how many were queued."""
    from watchkeeper.notify.outbox import enqueue

    user = find_user(case.assignee, session=session)
    if user is None:
        return 0
    queued = 0
    for i, channel in enumerate(user.channels):
        queued += (
            enqueue(
                session=session,
                now=now,
                subject="case",
                subject_id=case.id,
                reason=f"{reason}/{i}",
                recipient=user.name,
                url=channel,
                title=title,
                body=body,
            )
            is not None
        )
    return queued


def _tell_escalation(case: Case, what: str, key: str, *, session: Session, now: datetime) -> None:
    """The customer's escalation contacts hear of a breach, through the outbox (once per clock)."""
    from watchkeeper.notify.outbox import enqueue

    customer = customer_by_id(case.customer_id, session=session)
    for contact in contacts_of(customer, session=session, role=ContactRole.ESCALATION):
        enqueue(
            session=session,
            now=now,
            subject="case",
            subject_id=case.id,
            reason=f"breach:{key}",
            recipient=contact.name,
            url=contact.channel,
            title=f"Case {case.id} ({case.priority}): {what}",
            body=f"{case.title}\n\n{what}; the case is at escalation level {case.escalation_level}.",
        )


def list_cases(
    *, session: Session, customer: str | None = None, status: CaseStatus | None = None, limit: int = 100
) -> list[Case]:
    query = select(Case).order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)
    if customer is not None:
        query = query.where(Case.customer_id == get_customer(customer, session=session).id)
    if status is not None:
        query = query.where(Case.status == status)
    return list(session.scalars(query))


def newest_entry(*, session: Session) -> int:
    """The id of the newest work-log entry (0 before the first): it moves with every change to any case."""
    return session.scalar(select(func.max(CaseEntry.id))) or 0


def cases_of_incident(incident_id: int, *, session: Session) -> list[Case]:
    linked = select(CaseIncident.case_id).where(CaseIncident.incident_id == incident_id)
    return list(session.scalars(select(Case).where(Case.id.in_(linked)).order_by(Case.id)))
