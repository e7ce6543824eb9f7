"""Every delivery outcome goes on the timeline of what it was about. Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from watchkeeper.incidents.lifecycle import Entry
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.service import add_entry
from watchkeeper.notify.models import Notification
from watchkeeper.notify.outbox import Status, redact
from watchkeeper.support import service as desk
from watchkeeper.support.models import Case, Enquiry


def record_outcome(row: Notification, session: Session, now: datetime) -> None:
    if row.status == Status.SENT:
        text = f"notified {row.recipient} via {redact(row.url)}: {row.title}"
    elif row.status == Status.FAILED:
        text = f"gave up notifying {row.recipient} after {row.attempts} attempts: {row.last_error}"
    else:
        text = (
            f"could not notify {row.recipient} (attempt {row.attempts}, retrying at {row.due_at:%H:%M:%S} UTC): "
            f"{row.last_error}"
        )
    incident_id, case_id = _where(row, session)
    incident = session.get(Incident, incident_id) if incident_id is not None else None
    if incident is not None:
        add_entry(
            incident, Entry.NOTIFICATION, text, session=session, at=now, notification_id=row.id, status=row.status
        )
    case = session.get(Case, case_id) if case_id is not None else None
    if case is not None:
        desk.log_entry(
            case,
            desk.EntryKind.NOTIFICATION,
            text,
            author="watchkeeper",
            at=now,
            session=session,
            notification_id=row.id,
            status=row.status,
        )


def _where(row: Notification, session: Session) -> tuple[int | None, int | None]:
    if row.subject == "incident":
        return row.subject_id, None
    if row.subject == "case":
        return None, row.subject_id
    if row.subject == "enquiry" and (enquiry := session.get(Enquiry, row.subject_id)) is not None:
        return enquiry.incident_id, enquiry.case_id
    return None, None
