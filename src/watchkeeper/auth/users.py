"""People and their channels. Never commits.

A user has a role: `admin` or `engineer` (the operator's staff) or `customer`
(one customer's own people, who see only that customer's things). Tokens made
for a user (`watchkeeper token create --user NAME`) speak with the user's
role. A user's channels are Apprise URLs (mailto://, slack://, ...): the desk
tells them there of cases assigned to them, of customers' replies on those
cases and of SLA warnings and breaches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.models import User
from watchkeeper.auth.principal import Role
from watchkeeper.inputs import MAX_CHANNELS, check_channel, check_name
from watchkeeper.keys import mask


def _checked_channels(channels: Sequence[str]) -> list[str]:
    if len(channels) > MAX_CHANNELS:
        raise ValueError(f"at most {MAX_CHANNELS} channels a user; this has {len(channels):,}")
    return list(dict.fromkeys(check_channel(c) for c in channels))


def add_user(
    *,
    session: Session,
    now: datetime,
    name: str,
    role: str,
    customer_id: int | None = None,
    channels: Sequence[str] = (),
) -> User:
    check_name(name.strip(), "user")
    if role not in tuple(Role) or role == Role.INGEST:
        raise ValueError(
            f"{role!r} is not a person's role: admin, engineer or customer "
            "(ingest is for a supplier's token: `watchkeeper token create --role ingest`)"
        )
    if (role == Role.CUSTOMER) != (customer_id is not None):
        raise ValueError("a customer user needs --customer, and only a customer user takes one")
    if session.scalar(select(User.id).where(User.name == name.strip())) is not None:
        raise ValueError(f"a user named {name.strip()!r} exists; `watchkeeper users list` shows them")
    user = User(
        name=name.strip(), role=role, customer_id=customer_id, channels=_checked_channels(channels), created_at=now
    )
    session.add(user)
    session.flush()
    return user


def get_user(name: str, *, session: Session) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise LookupError(f"no user {name!r}; `watchkeeper users list` shows them")
    return user


def find_user(name: str | None, *, session: Session) -> User | None:
    return None if name is None else session.scalar(select(User).where(User.name == name))


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def set_channels(name: str, channels: Sequence[str], *, session: Session) -> User:
    user = get_user(name, session=session)
    user.channels = _checked_channels(channels)
    return user


def user_view(user: User, *, session: Session) -> dict[str, Any]:
    """A user as the API and the command line show them."""
    customer = user.customer.name if user.customer is not None else None
    # Passwords in channel URLs are kept sealed and never shown again, as a token is not.
    return {
        "name": user.name,
        "role": user.role,
        "customer": customer,
        "channels": [mask(c) for c in user.channels],
        "created_at": user.created_at,
    }
