"""Integration keys: who may push alerts in. Services never commit: the caller owns the transaction."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.auth.service import secret_digest
from watchkeeper.clock import Clock
from watchkeeper.intake.models import Integration
from watchkeeper.intake.models import Kind as Kind


@dataclass(frozen=True)
class NewIntegration:
    key: str  # shown once, never stored
    record: Integration


def create(*, session: Session, clock: Clock, kind: Kind, name: str) -> NewIntegration:
    if not name.strip():
        raise ValueError("an integration needs a name saying what sends through it, e.g. 'prometheus-prod'")
    # 32 hex characters (128 random bits): the length PagerDuty's routing keys
    # have, which some senders check before they send.
    key = secrets.token_hex(16)
    record = Integration(
        kind=kind, name=name.strip(), key_hash=secret_digest(key), prefix=key[:6], created_at=clock.now()
    )
    session.add(record)
    session.flush()
    return NewIntegration(key, record)


def verify(*, session: Session, key: str, kind: Kind) -> Integration | None:
    record = session.scalar(select(Integration).where(Integration.key_hash == secret_digest(key)))
    if record is None or record.revoked_at is not None or record.kind != kind:
        return None
    return record


@dataclass(frozen=True)
class Known:
    id: int
    name: str
    kind: str


class KeyCache:
    """Recently verified keys, so a burst of events costs one key lookup, not one per event.

    A revoked key keeps working for at most `ttl` after `integrations revoke`.
    """

    def __init__(self, ttl: timedelta = timedelta(seconds=10)) -> None:
        self.ttl = ttl
        self._known: dict[tuple[str, str], tuple[Known, datetime]] = {}
        self._lock = threading.Lock()

    def verify(self, *, sessions: sessionmaker[Session], key: str, kind: Kind, now: datetime) -> Known | None:
        with self._lock:
            cached = self._known.get((key, kind))
        if cached is not None and now - cached[1] < self.ttl:
            return cached[0]
        session = sessions()
        try:
            record = verify(session=session, key=key, kind=kind)
            known = None if record is None else Known(record.id, record.name, record.kind)
        finally:
            session.close()
        with self._lock:
            if known is None:
                self._known.pop((key, kind), None)
            else:
                if len(self._known) > 10_000:
                    self._known.clear()
                self._known[(key, kind)] = (known, now)
        return known


def list_integrations(*, session: Session) -> list[Integration]:
    return list(session.scalars(select(Integration).order_by(Integration.id)))


def revoke(*, session: Session, clock: Clock, integration_id: int) -> Integration:
    record = session.get(Integration, integration_id)
    if record is None:
        raise LookupError(f"no integration {integration_id}; `watchkeeper integrations list` shows them")
    record.revoked_at = record.revoked_at or clock.now()
    return record
