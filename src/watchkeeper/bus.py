"""Domain events, and the message bus that hands them to the layers above.

A lower layer never calls a higher one. Where a higher one may react (an
alert fired, an incident opened), the lower one publishes a typed event on
the unit of work, the SQLAlchemy session of the transaction; the bus runs the
handlers registered for the event's type, in the order they were registered,
in that same transaction. A handler's error rolls the whole transaction back:
nothing half-happens, and nothing is lost.

The bus is built in one place (watchkeeper.wiring) and rides on the session
factory (`db.make_sessionmaker(engine, bus=...)`), never on a module-level
registry, so a reader sees who reacts to what in one file and a test can
build a bus of its own.

Events are handled when they are published, before `publish` returns, and
one a handler publishes is handled before that handler goes on. What the
publisher does next depends on the reactions: an alert of a batch joins the
incident the one before it opened, and the desk lowers an incident's urgency
before the rest of its group joins it. Handling them only at commit would
change what incidents look like.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

E = TypeVar("E")
Handler = Callable[[Any, Session], None]

# Keys in Session.info: the bus (from the session factory) and the events not handled yet.
BUS = "watchkeeper.bus"
_PENDING = "watchkeeper.events"


class NoBus(RuntimeError):
    """A session made without a message bus published an event: its reactions would be lost."""


class MessageBus:
    """The handlers of each event type, in the order they run.

    `wire`, if given, subscribes the handlers when the first event is
    published: a command that publishes nothing (an ingest) loads no
    reactor's modules.
    """

    def __init__(self, wire: Callable[[MessageBus], None] | None = None) -> None:
        self._handlers: dict[type, list[Handler]] = {}
        self._wire = wire
        self._ready = wire is None
        self._wiring = threading.RLock()
        self._in_progress = False

    def _wired(self) -> None:
        if self._ready:
            return
        # Another thread waits until the wiring is done; `wire` itself subscribes through here.
        with self._wiring:
            if self._ready or self._in_progress or self._wire is None:
                return
            self._in_progress = True
            try:
                self._wire(self)
                self._ready = True
            except BaseException:
                self._handlers.clear()
                raise
            finally:
                self._in_progress = False

    def subscribe(self, event_type: type[E], handler: Callable[[E, Session], None]) -> None:
        """Run `handler(event, session)` for every `event_type` published, after those subscribed before it."""
        self._wired()
        self._handlers.setdefault(event_type, []).append(handler)

    def handlers(self, event_type: type) -> tuple[Handler, ...]:
        self._wired()
        return tuple(self._handlers.get(event_type, ()))

    def handle(self, session: Session) -> None:
        """Hand every event collected on `session` to its handlers, until none is left."""
        self._wired()
        pending: deque[Any] = session.info.setdefault(_PENDING, deque())
        try:
            while pending:
                event = pending.popleft()
                for handler in self._handlers.get(type(event), ()):
                    handler(event, session)
        except BaseException:
            # The transaction is rolled back: what it published goes with it.
            pending.clear()
            raise


def publish(session: Session, event: object) -> None:
    """Collect `event` on the unit of work and have the session's bus handle it now."""
    bus: MessageBus | None = session.info.get(BUS)
    if bus is None:
        raise NoBus(
            f"{type(event).__name__} published on a session made without a message bus; "
            "make the session factory with watchkeeper.wiring.sessionmaker"
        )
    session.info.setdefault(_PENDING, deque()).append(event)
    bus.handle(session)
