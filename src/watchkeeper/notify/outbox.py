"""The notification outbox. Never commits: the caller owns each transaction.

Every notification is written, with its key, in the same transaction as the
thing it is about (an incident opening, an enquiry), so nothing is lost if
the process dies. Delivery runs in three steps, each its own transaction:
claim (status `sending`, with a lease), send, record the outcome. Two
workers never claim the same row (watchkeeper.due: SKIP LOCKED on
PostgreSQL, compare-and-swap on SQLite), and a row is only claimed again if
its sender died mid-send and the lease ran out: the one case in which a
message may go twice, since no outside channel can be asked whether it
already got it.

Failures are retried with exponential backoff (30 s, 1 min, 2 min ... up to
1 h) and given up after MAX_ATTEMPTS; every outcome goes on the incident's
timeline or the case's work log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper import due
from watchkeeper.db import transaction
from watchkeeper.notify.models import Notification
from watchkeeper.notify.models import Status as Status

MAX_ATTEMPTS = 8
CALL = "sip:"  # the scheme of a voice page's URL: a call, not a message
LEASE = timedelta(minutes=2)


class SendError(Exception):
    pass


class Sender(Protocol):
    def send(self, url: str, title: str, body: str) -> None:
        """Deliver or raise SendError saying why not."""


class AppriseSender:
    """Email, Slack, Teams, Telegram, webhooks ... whatever Apprise speaks."""

    def send(self, url: str, title: str, body: str) -> None:
        import apprise

        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise SendError(f"not a notification URL Apprise knows: {redact(url)}")
        if not notifier.notify(title=title, body=body):
            raise SendError(f"{redact(url)} did not accept the message (see the server log)")


def redact(url: str) -> str:
    """Scheme and host only: URLs often carry tokens and passwords."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/")[0].split("@")[-1]
    return f"{scheme}://{host}/..."


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(hours=1))


def enqueue(
    *,
    session: Session,
    now: datetime,
    subject: str,
    subject_id: int,
    reason: str,
    recipient: str,
    url: str,
    title: str,
    body: str,
    due_at: datetime | None = None,
) -> Notification | None:
    """Write a notification unless one with the same key exists. Returns the new row, or None if it existed.

    `due_at`, if later than `now`, holds it until then (a page's later rule)."""
    key = f"{subject}:{subject_id}:{reason}:{recipient}"
    if session.scalar(select(Notification.id).where(Notification.key == key)) is not None:
        return None
    row = Notification(
        key=key[:500],
        subject=subject,
        subject_id=subject_id,
        recipient=recipient,
        url=url,
        title=title[:500],
        body=body[:8000],
        status=Status.PENDING,
        attempts=0,
        due_at=due_at or now,
        created_at=now,
        call=url.lower().startswith(CALL),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # written by another process in the meantime: one is enough
    return row


def claim(*, session: Session, now: datetime, limit: int = 20, calls: bool | None = None) -> list[Notification]:
    """Up to `limit` due notifications (only calls, or only messages, if `calls` says), marked
    `sending` and leased for LEASE (see watchkeeper.due)."""
    kind = [] if calls is None else [Notification.call.is_(calls)]
    rows = due.claim(
        session,
        Notification,
        due=Notification.due_at,
        now=now,
        limit=limit,
        where=[Notification.status.in_([Status.PENDING, Status.SENDING]), *kind],
        lease=LEASE,
    )
    for row in rows:
        row.status, row.attempts = Status.SENDING, row.attempts + 1
    return rows


Outcome = Callable[[Notification, Session, datetime], None]
Claimed = tuple[int, str, str, str]


def claim_to_send(*, session: Session, now: datetime, limit: int = 20, calls: bool | None = None) -> list[Claimed]:
    """`claim`, keeping what a send needs (id, url, title, body) for after the claim is committed."""
    return [(r.id, r.url, r.title, r.body) for r in claim(session=session, now=now, limit=limit, calls=calls)]


def deliver_due(
    sessions: sessionmaker[Session],
    *,
    sender: Sender,
    now: Callable[[], datetime],
    on_outcome: Outcome | None = None,
    limit: int = 20,
) -> int:
    """Claim, send and record up to `limit` due notifications. Returns how many were tried."""
    with transaction(sessions) as session:
        claimed = claim_to_send(session=session, now=now(), limit=limit)
    deliver(claimed, sessions, sender=sender, now=now, on_outcome=on_outcome)
    return len(claimed)


def deliver(
    claimed: Sequence[Claimed],
    sessions: sessionmaker[Session],
    *,
    sender: Sender,
    now: Callable[[], datetime],
    on_outcome: Outcome | None = None,
    at_once: int = 1,
) -> None:
    """Send claimed notifications, outside any transaction, and record each outcome in one of its own.

    Up to `at_once` sends are under way together: a send mostly waits on the
    channel's server, so a batch takes about as long as its slowest send, not
    the sum of them. Each outcome is recorded as its send finishes (those that
    finish together in one transaction), from this thread only."""
    if at_once <= 1 or len(claimed) <= 1:
        for one in claimed:
            _recorded([(one, _send(sender, one))], sessions, now=now, on_outcome=on_outcome)
        return
    failed: Exception | None = None
    with ThreadPoolExecutor(max_workers=min(at_once, len(claimed)), thread_name_prefix="send") as pool:
        pending = {pool.submit(_send, sender, one): one for one in claimed}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            # Those that finished together are recorded together, in one transaction. The sends
            # already made must be recorded whatever one record's fate: unrecorded, they go again.
            try:
                _recorded([(pending.pop(f), f.result()) for f in done], sessions, now=now, on_outcome=on_outcome)
            except Exception as exc:
                failed = failed or exc
    if failed is not None:
        raise failed


def _send(sender: Sender, claimed: Claimed) -> str | None:
    """Why the send failed, or None."""
    _row_id, url, title, body = claimed
    try:
        sender.send(url, title, body)
    except SendError as exc:
        return str(exc)
    except Exception as exc:  # a channel's library failing must not stop the others
        return f"{type(exc).__name__}: {exc}"
    return None


def _recorded(
    outcomes: Sequence[tuple[Claimed, str | None]],
    sessions: sessionmaker[Session],
    *,
    now: Callable[[], datetime],
    on_outcome: Outcome | None,
) -> None:
    with transaction(sessions) as session:
        for claimed, error in outcomes:
            row = session.get(Notification, claimed[0])
            if row is None:
                continue
            _record(row, error, now())
            if on_outcome is not None:
                on_outcome(row, session, now())


def record(row: Notification, error: str | None, now: datetime) -> None:
    """What one try came to: sent (`error` None), to be retried with backoff, or given up."""
    _record(row, error, now)


def _record(row: Notification, error: str | None, now: datetime) -> None:
    if error is None:
        row.status, row.sent_at, row.due_at, row.last_error = Status.SENT, now, None, None
    elif row.attempts >= MAX_ATTEMPTS:
        row.status, row.due_at, row.last_error = Status.FAILED, None, error[:1000]
    else:
        row.status, row.due_at, row.last_error = Status.PENDING, now + backoff(row.attempts), error[:1000]


def list_notifications(
    *,
    session: Session,
    subject: str | None = None,
    subject_id: int | None = None,
    pending_only: bool = False,
    limit: int = 100,
) -> list[Notification]:
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(Notification.subject == subject)
    if subject_id is not None:
        query = query.where(Notification.subject_id == subject_id)
    if pending_only:
        query = query.where(or_(Notification.status == Status.PENDING, Notification.status == Status.SENDING))
    return list(session.scalars(query))
