"""Create, check and revoke API tokens. Only a token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.auth.customers import Customer
from watchkeeper.auth.models import ApiToken, User
from watchkeeper.auth.principal import Role, service_rule
from watchkeeper.clock import Clock
from watchkeeper.db import get_existing
from watchkeeper.inputs import check_name

PREFIX = "wk_"


def secret_digest(token: str) -> str:
    # Tokens and integration keys carry 128 or more random bits, so a plain
    # SHA-256 (no slow KDF) is enough to make a stolen table useless, and it
    # keeps every request cheap.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once, never stored
    record: ApiToken


def create_token(
    *,
    session: Session,
    clock: Clock,
    name: str,
    role: str = "admin",
    customer_id: int | None = None,
    user: User | None = None,
    services: str | None = None,
    feed: str | None = None,
) -> NewToken:
    """`role` is admin, engineer (the operator's staff), customer (one customer's own people)
    or ingest (a supplier: posts usage only, for the `services` its regex matches if given,
    and reads the files of `feed` if given).

    A token made for a `user` speaks with that user's role and customer.
    """
    if user is not None:
        role, customer_id = user.role, user.customer_id
    if not name.strip():
        raise ValueError("a token needs a name saying who or what uses it")
    check_name(name.strip(), "token")
    if role not in tuple(Role):
        raise ValueError(f"{role!r} is not a role: admin, engineer, customer or ingest")
    if (role == Role.CUSTOMER) != (customer_id is not None):
        raise ValueError("a customer token needs --customer, and only a customer token takes one")
    if role != Role.INGEST and (services is not None or feed is not None):
        raise ValueError("only an ingest token (--role ingest) is limited with --services or --feed")
    if services is not None:
        service_rule(services)
    if feed is not None:
        check_name(feed, "feed")
    token = PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        name=name.strip(),
        token_hash=secret_digest(token),
        prefix=token[:10],
        created_at=clock.now(),
        role=role,
        customer_id=customer_id,
        user_id=None if user is None else user.id,
        services=services,
        feed=feed,
    )
    session.add(record)
    session.flush()
    return NewToken(token, record)


def verify_token(*, session: Session, token: str) -> ApiToken | None:
    if not token.startswith(PREFIX):
        return None
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == secret_digest(token)))
    if record is None or record.revoked_at is not None:
        return None
    return record


def list_tokens(*, session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def token_view(record: ApiToken, *, session: Session) -> dict[str, Any]:
    """A token as `token list` shows it: who it is for and what it may do, never the secret."""
    user = None if record.user_id is None else session.get(User, record.user_id)
    customer = None if record.customer_id is None else session.get(Customer, record.customer_id)
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role,
        "user": user.name if user else None,
        "customer": customer.name if customer else None,
        "services": record.services,
        "feed": record.feed,
        "prefix": record.prefix,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
    }


def revoke_token(*, session: Session, clock: Clock, token_id: int) -> ApiToken:
    record = get_existing(
        session, ApiToken, token_id, missing=f"no token with id {token_id}; `watchkeeper token list` shows them"
    )
    if record.revoked_at is None:
        record.revoked_at = clock.now()
    return record


def has_tokens(*, session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(ApiToken)))
