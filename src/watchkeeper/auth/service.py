"""Create, check and revoke API tokens. Only a token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.auth.models import ApiToken, User
from watchkeeper.checks import check_name
from watchkeeper.clock import Clock

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


def create_token(*, session: Session, clock: Clock, name: str, role: str = "admin",
                 customer_id: int | None = None, user: User | None = None) -> NewToken:  # fmt: skip
    """`role` is admin, engineer (the operator's staff) or customer (one customer's own people).

    A token made for a `user` speaks with that user's role and customer.
    """
    if user is not None:
        role, customer_id = user.role, user.customer_id
    if not name.strip():
        raise ValueError("a token needs a name saying who or what uses it")
    check_name(name.strip(), "token")
    if role not in ("admin", "engineer", "customer"):
        raise ValueError(f"{role!r} is not a role: admin, engineer or customer")
    if (role == "customer") != (customer_id is not None):
        raise ValueError("a customer token needs --customer, and only a customer token takes one")
    token = PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(name=name.strip(), token_hash=secret_digest(token), prefix=token[:10],
                      created_at=clock.now(), role=role, customer_id=customer_id,
                      user_id=None if user is None else user.id)  # fmt: skip
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


def revoke_token(*, session: Session, clock: Clock, token_id: int) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None:
        raise LookupError(f"no token with id {token_id}; `watchkeeper token list` shows them")
    if record.revoked_at is None:
        record.revoked_at = clock.now()
    return record


def has_tokens(*, session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(ApiToken)))
