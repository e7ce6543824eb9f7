"""Signing in to the web desk: passwords, sessions and one-time links. Never commits.

A password is kept as an argon2id hash (argon2-cffi's defaults, OWASP's
choice). A name with no user, or a user with no password, is checked against
a hash of a password nobody has, so a wrong name costs what a wrong password
costs and the answer tells the two apart by neither words nor time.

A session is a random secret in an HttpOnly cookie; the database keeps its
SHA-256, when it was last seen and when it expires: IDLE after it was last
used, and never later than LIFETIME after it began. Signing out ends it on
the server, so a copied cookie is refused from then on. The form token that
guards every form (CSRF) is derived from the session's secret, so it needs
no storage and dies with the session.

A sign-in link is a secret too, valid LINK_MINUTES and used once; asking for
one answers alike whether the name exists or not.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from watchkeeper.auth.models import SignInLink, User, WebSession
from watchkeeper.auth.service import secret_digest

IDLE = timedelta(hours=12)
LIFETIME = timedelta(days=7)
SEEN_EVERY = timedelta(minutes=1)  # a session's last use is written at most this often
LINK_MINUTES = 15
MIN_PASSWORD = 10
MAX_PASSWORD = 1000  # argon2 hashes any length; a megabyte "password" is a denial of service

_hasher = PasswordHasher()
_NOBODY = _hasher.hash(secrets.token_urlsafe(32))


class BadPassword(ValueError):
    """A password that cannot be set: the message says why."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BadPassword(f"a password needs at least {MIN_PASSWORD} characters; this has {len(password)}")
    if len(password) > MAX_PASSWORD:
        raise BadPassword(f"a password has at most {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)


def _matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return False


def check_password(name: str, password: str, *, session: Session) -> User | None:
    """The user if `password` is theirs, else None, in the same time either way."""
    user = session.scalar(select(User).where(User.name == name.strip()[:100]))
    stored = user.password_hash if user is not None and user.password_hash else _NOBODY
    good = _matches(stored, password)
    if user is None or not user.password_hash or not good:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user


@dataclass(frozen=True)
class Signed:
    user: User
    session: WebSession


def start_session(user: User, *, session: Session, now: datetime) -> str:
    """A new session for `user`; the secret for its cookie (shown once, never stored)."""
    secret = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=secret_digest(secret),
            user_id=user.id,
            created_at=now,
            seen_at=now,
            expires_at=min(now + IDLE, now + LIFETIME),
        )
    )
    session.flush()
    return secret


def current(secret: str | None, *, session: Session, now: datetime) -> Signed | None:
    """Whose session the cookie's `secret` is, if it is live; its expiry moves on with use."""
    if not secret or len(secret) > 200:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == secret_digest(secret)))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    if now - row.seen_at >= SEEN_EVERY:
        row.seen_at, row.expires_at = now, min(now + IDLE, row.created_at + LIFETIME)
    return Signed(user, row)


def end_session(secret: str | None, *, session: Session, now: datetime) -> bool:
    if not secret:
        return False
    ended = session.execute(
        update(WebSession)
        .where(WebSession.token_hash == secret_digest(secret[:200]), WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return bool(ended.rowcount)  # type: ignore[attr-defined]


def end_sessions_of(user: User, *, session: Session, now: datetime) -> None:
    """Every session of `user` ends: a new password signs out the old ones."""
    session.execute(
        update(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None)).values(ended_at=now)
    )


def form_token(secret: str) -> str:
    """The CSRF token of the session whose cookie holds `secret`."""
    return hmac.new(secret.encode(), b"watchkeeper form", hashlib.sha256).hexdigest()[:40]


def form_token_ok(secret: str | None, token: str | None) -> bool:
    return bool(secret and token) and hmac.compare_digest(form_token(secret or ""), token or "")


def make_link(user: User, *, session: Session, now: datetime) -> tuple[str, SignInLink]:
    secret = secrets.token_urlsafe(32)
    link = SignInLink(
        token_hash=secret_digest(secret),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(minutes=LINK_MINUTES),
    )
    session.add(link)
    session.flush()
    return secret, link


def link_user(secret: str, *, session: Session, now: datetime) -> User | None:
    """Whose link this is, if it is unused and in time (it is not used by this)."""
    link = session.scalar(select(SignInLink).where(SignInLink.token_hash == secret_digest(secret[:200])))
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    return session.get(User, link.user_id)


def use_link(secret: str, *, session: Session, now: datetime) -> User | None:
    """The link's user, and the link used up: a second use, or one after its minutes, gets None."""
    used = session.execute(
        update(SignInLink)
        .where(
            SignInLink.token_hash == secret_digest(secret[:200]),
            SignInLink.used_at.is_(None),
            SignInLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(SignInLink.user_id)
    ).scalar()
    return None if used is None else session.get(User, used)
