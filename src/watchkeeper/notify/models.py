from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.db import Base, Sealed, UTCDateTime, str_enum


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Subject(StrEnum):
    INCIDENT = "incident"
    CASE = "case"
    ENQUIRY = "enquiry"
    SIGNIN = "signin"  # a one-time sign-in link to the web desk (subject_id: the link's)


class Notification(Base):
    """One message to one recipient, keyed by (subject, reason, recipient) so it is written and sent once.

    `subject_id` is an incident's, a case's or an enquiry's id, as `subject`
    says: no foreign key can name three tables, and the desk's two are a layer
    above the outbox, which must not know them.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)
    subject: Mapped[Subject] = mapped_column(str_enum(Subject, 16))
    subject_id: Mapped[int] = mapped_column(Integer, index=True)
    recipient: Mapped[str] = mapped_column(String(200))
    # Sealed under the server's key: the URL may hold a password, the body live answer links.
    url: Mapped[str] = mapped_column(Sealed)  # Apprise URL, never shown in full
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Sealed)
    # A telephone call (a `sip:` URL), which rings for up to a minute: calls are claimed by a lane of
    # their own, so no message waits behind a ringing phone. Kept apart because the URL is sealed.
    call: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[Status] = mapped_column(str_enum(Status, 12), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # next try, or lease end while sending
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
