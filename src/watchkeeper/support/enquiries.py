"""Asking a customer's technical contact whether a quiet feed is expected, and acting on the answer. Never commits.

The two answer links are signed and expire (see links.py); each enquiry takes
one answer. "Expected" snoozes the service's alerts for a while or moves it
to the `test` stage, as the operator chose when asking; "not expected" makes
the incident high urgency and the case one priority higher. Both are written
on the case's work log and the incident's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from watchkeeper.db import server_key
from watchkeeper.feeds.models import ServiceStage
from watchkeeper.feeds.schemas import ServicePatch
from watchkeeper.feeds.service import get_service, update_service
from watchkeeper.finding import Urgency
from watchkeeper.incidents.lifecycle import Entry
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.service import add_entry
from watchkeeper.notify.outbox import enqueue
from watchkeeper.support import service as desk
from watchkeeper.support.links import Answer, InvalidLink, Signed, sign, verify
from watchkeeper.support.models import Case, Enquiry, ServerSecret
from watchkeeper.support.models import IfExpected as IfExpected
from watchkeeper.support.service import EntryKind
from watchkeeper.support.sla import Priority

SYSTEM = "watchkeeper"


def server_secret(*, session: Session) -> bytes:
    """The key answer links are signed with: derived from the server's key, never stored (keys.py)."""
    return server_key(session).derive("enquiry-links")


# Links sent before the server's key existed were signed with a key kept in
# the database (or with WATCHKEEPER_SECRET_KEY itself). Migration 0014 moved
# that key out, sealed under the server's key, with the last enquiry it
# signed: it is honoured for those enquiries only, and only until each one's
# own expiry, so a copy of the old key opens nothing once they have expired.
LEGACY = "links-legacy"


def _legacy(token: str, *, session: Session, now: datetime) -> Signed:
    row = session.get(ServerSecret, LEGACY)
    if row is None:
        raise InvalidLink()
    upto, _, sealed = row.value.partition(":")
    key = server_key(session)
    # WATCHKEEPER_SECRET_KEY, when it was set, signed instead of the stored key.
    for secret in ([key.unseal(sealed).encode()] if sealed else []) + [key.raw()]:
        try:
            signed = verify(secret, token, now)
        except InvalidLink:
            continue
        if signed.enquiry_id <= int(upto):
            return signed
    raise InvalidLink()


@dataclass(frozen=True)
class Asked:
    enquiry: Enquiry
    links: dict[Answer, str]


LONGEST_SNOOZE = timedelta(days=30)  # as the API's snooze_hours allows


def ask(
    *,
    session: Session,
    now: datetime,
    secret: bytes,
    base_url: str,
    service: str,
    question: str | None = None,
    incident_id: int | None = None,
    case_id: int | None = None,
    if_expected: IfExpected = IfExpected.SNOOZE,
    snooze: timedelta = timedelta(hours=24),
    ttl: timedelta = timedelta(hours=72),
) -> Asked:
    row = get_service(session=session, name=service)
    customer = desk.customer_of_service(service, session=session)
    if customer is None:
        raise LookupError(f"{service} belongs to no customer; `watchkeeper customers assign CUSTOMER {service}`")
    # A case or incident named must be this customer's: an answer writes to it, and
    # another customer's would read this customer's enquiry, contacts and service.
    if case_id is not None:
        case = session.get(Case, case_id)
        if case is None or case.customer_id != customer.id:
            raise LookupError(f"no case {case_id} of {customer.name}; `watchkeeper cases list` shows them")
    if incident_id is not None:
        incident = session.get(Incident, incident_id)
        if incident is None or (incident.customer not in (None, customer.name)):
            raise LookupError(f"no incident {incident_id} of {customer.name}; `watchkeeper incidents list` shows them")
    if not timedelta(hours=1) <= snooze <= LONGEST_SNOOZE:
        raise ValueError(f"an 'expected' answer snoozes for an hour to {LONGEST_SNOOZE.days} days, not {snooze}")
    since = "it was set up" if row.last_seen is None else f"{row.last_seen:%Y-%m-%d %H:%M} UTC"
    question = question or f"We have had no usage records from {service} since {since}. Is this expected?"
    enquiry = Enquiry(
        customer_id=customer.id,
        service=service,
        incident_id=incident_id,
        case_id=case_id,
        question=question,
        if_expected=if_expected,
        snooze_hours=max(1, int(snooze / timedelta(hours=1))),
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(enquiry)
    session.flush()
    links = {
        a: f"{base_url.rstrip('/')}/enquiries/answer?token={sign(secret, enquiry.id, a, enquiry.expires_at)}"
        for a in Answer
    }
    contacts = desk.contacts_of(customer, session=session, role=desk.ContactRole.TECHNICAL)
    names = ", ".join(c.name for c in contacts) or "nobody: no technical contact is on file, send the links by hand"
    _note(
        enquiry,
        f"enquiry {enquiry.id} to {customer.name}'s technical contact ({names}): {question}",
        EntryKind.ENQUIRY,
        Entry.ENQUIRY_SENT,
        session=session,
        now=now,
    )
    body = (
        f"{question}\n\nExpected (we are testing, or it is planned):\n{links[Answer.EXPECTED]}\n\n"
        f"Not expected, please investigate:\n{links[Answer.NOT_EXPECTED]}\n\n"
        f"The links work once and until {enquiry.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    for contact in contacts:
        enqueue(
            session=session,
            now=now,
            subject="enquiry",
            subject_id=enquiry.id,
            reason="ask",
            recipient=contact.name,
            url=contact.channel,
            title=f"Is the silence on {service} expected?",
            body=body,
        )
    return Asked(enquiry, links)


def _note(
    enquiry: Enquiry,
    text: str,
    case_kind: EntryKind,
    incident_kind: Entry,
    *,
    session: Session,
    now: datetime,
    author: str = SYSTEM,
) -> None:
    case = session.get(Case, enquiry.case_id) if enquiry.case_id is not None else None
    if case is not None:
        desk.log_entry(case, case_kind, text, author=author, at=now, session=session, enquiry_id=enquiry.id)
    incident = session.get(Incident, enquiry.incident_id) if enquiry.incident_id is not None else None
    if incident is not None:
        add_entry(incident, incident_kind, text, session=session, at=now, actor=author, enquiry_id=enquiry.id)


def preview(*, session: Session, now: datetime, secret: bytes, token: str) -> tuple[Enquiry, Answer]:
    """What a link would answer, for the confirmation page. InvalidLink if it is not a good link."""
    try:
        signed = verify(secret, token, now)
    except InvalidLink:
        signed = _legacy(token, session=session, now=now)
    enquiry = session.get(Enquiry, signed.enquiry_id)
    # The enquiry's own expiry rules, not only the one the link carries.
    if enquiry is None or now >= enquiry.expires_at:
        raise InvalidLink()
    return enquiry, signed.answer


def answer(*, session: Session, now: datetime, secret: bytes, token: str) -> str:
    """Record the answer a link stands for and act on it; returns what to tell the customer."""
    enquiry, given = preview(session=session, now=now, secret=secret, token=token)
    if enquiry.answered_at is not None or not _claim(enquiry, given, session=session, now=now):
        earlier = (enquiry.answer or "").replace("_", " ")
        return f"This enquiry was already answered ({earlier}) on {enquiry.answered_at:%Y-%m-%d %H:%M} UTC. Thank you."
    customer = desk.customer_by_id(enquiry.customer_id, session=session).name
    if given is Answer.EXPECTED:
        done = _expected(enquiry, session=session, now=now)
        text = f"{customer} says the silence on {enquiry.service} is expected; {done}"
    else:
        done = _not_expected(enquiry, session=session, now=now)
        text = f"{customer} says the silence on {enquiry.service} is NOT expected; {done}"
    _note(
        enquiry,
        text,
        EntryKind.CUSTOMER,
        Entry.CUSTOMER_ANSWER,
        session=session,
        now=now,
        author=f"customer:{customer}",
    )
    return "Thank you, your answer is recorded: " + (
        "we will treat it as planned." if given is Answer.EXPECTED else "we are investigating now."
    )


def _claim(enquiry: Enquiry, given: Answer, *, session: Session, now: datetime) -> bool:
    """Set the answer if none is set yet; True if this call set it.

    A compare-and-swap: answers posted at the same moment all read the enquiry
    unanswered (on PostgreSQL), and the row's lock makes every update after
    the first find the answer set and change nothing, so only one acts.
    """
    claimed = session.execute(
        update(Enquiry)
        .where(Enquiry.id == enquiry.id, Enquiry.answered_at.is_(None))
        .values(answer=given, answered_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(enquiry)
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def _expected(enquiry: Enquiry, *, session: Session, now: datetime) -> str:
    if enquiry.if_expected == IfExpected.TEST:
        update_service(session=session, name=enquiry.service, patch=ServicePatch(stage=ServiceStage.TEST), now=now)
        return "the service moved to the test stage (its alerts are low urgency)"
    until = now + timedelta(hours=enquiry.snooze_hours)
    update_service(
        session=session, name=enquiry.service, patch=ServicePatch(settings={"snooze_until": until.isoformat()}), now=now
    )
    return f"its alerts are snoozed until {until:%Y-%m-%d %H:%M} UTC"


_HIGHER = {Priority.P4: Priority.P3, Priority.P3: Priority.P2, Priority.P2: Priority.P1, Priority.P1: Priority.P1}


def _not_expected(enquiry: Enquiry, *, session: Session, now: datetime) -> str:
    done = []
    incident = session.get(Incident, enquiry.incident_id) if enquiry.incident_id else None
    if incident is not None and incident.urgency != Urgency.HIGH:
        incident.urgency, incident.raise_at = Urgency.HIGH, None
        done.append(f"incident {incident.id} is now high urgency")
    case = session.get(Case, enquiry.case_id) if enquiry.case_id else None
    if case is not None and case.priority != Priority.P1:
        higher = _HIGHER[Priority(case.priority)]
        desk.set_priority(case.id, higher, author=SYSTEM, session=session, now=now)
        done.append(f"case {case.id} raised to {higher}")
    return ", ".join(done) or "the incident and case stand as they are"


def of_incident(incident_id: int, *, session: Session) -> list[Enquiry]:
    """The enquiries asked about an incident, oldest first."""
    return list(session.scalars(select(Enquiry).where(Enquiry.incident_id == incident_id).order_by(Enquiry.id)))
