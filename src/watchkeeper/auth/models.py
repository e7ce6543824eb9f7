from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from watchkeeper.auth.customers import Customer
from watchkeeper.db import Base, SealedList, UTCDateTime, str_enum


class Role(StrEnum):
    ADMIN = "admin"
    ENGINEER = "engineer"
    CUSTOMER = "customer"
    INGEST = "ingest"  # a supplier's: posts usage, reads its own feed's files, nothing else


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    role: Mapped[Role] = mapped_column(str_enum(Role, 16), default=Role.ENGINEER)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))  # for customer tokens
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the person it speaks for, if any
    # An ingest token's limits: a regex its usage rows' services must match, and the feed whose files it reads.
    services: Mapped[str | None] = mapped_column(String(200))
    feed: Mapped[str | None] = mapped_column(String(100))


class User(Base):
    """A person: the operator's staff (admin, engineer) or one customer's own (customer).

    Their channels (Apprise URLs) are where the desk tells them of what is
    theirs: cases assigned to them, customers' replies, SLA warnings.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, 16))  # admin, engineer or customer: never ingest
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    customer: Mapped[Customer | None] = relationship()
    channels: Mapped[list[Any]] = mapped_column(SealedList, default=list)  # sealed: URLs may hold passwords
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id; None: signs in by link only


class WebSession(Base):
    """A person signed in to the web desk. The cookie holds a secret; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInLink(Base):
    """A one-time sign-in link mailed to a person: used once, within its minutes."""

    __tablename__ = "signin_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
