"""What the escalation tests start from: three engineers, their rules, a policy routed to `voip-core` incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper import wiring
from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.auth.users import add_user
from watchkeeper.clock import SimulatedClock
from watchkeeper.config import Settings
from watchkeeper.db import transaction
from watchkeeper.finding import Finding, Severity, State, Urgency
from watchkeeper.incidents.service import list_incidents, timeline
from watchkeeper.notify.models import Notification
from watchkeeper.oncall import policies
from watchkeeper.oncall.escalation import parse_duration, parse_level
from watchkeeper.scheduler import drain

NOW_WAIT = RoutingConfig(group_wait=timedelta(0))


@dataclass
class Runtime:
    settings: Settings
    clock: SimulatedClock
    sessions: sessionmaker[Session]


def mail(who: str, port: int = 25) -> str:
    return f"mailto://127.0.0.1:{port}?from=wk@operator.example&to={who}@operator.example&mode=insecure&format=text"


def engineers(db, now, port: int = 25) -> None:
    """alice: email at once, a second email after 2 min, a call after 5 min (high); email, and a call
    low urgency must skip (low). bob: email at once. carol: no rules, one channel."""
    with transaction(db.sessions) as session:
        for name in ("alice", "bob"):
            add_user(session=session, now=now, name=name, role="engineer")
        add_user(session=session, now=now, name="carol", role="engineer", channels=[mail("carol", port)])
        for urgency, channel, after in (
            (Urgency.HIGH, mail("alice", port), "0m"),
            (Urgency.HIGH, mail("alice-phone", port), "2m"),
            (Urgency.HIGH, "sip:+4930111", "5m"),
            (Urgency.LOW, mail("alice", port), "0m"),
            (Urgency.LOW, "sip:+4930111", "0m"),
            (Urgency.HIGH, mail("bob", port), "0m"),
            (Urgency.LOW, mail("bob", port), "0m"),
        ):
            who = "bob" if "bob" in channel else "alice"
            policies.add_rule(
                who, session=session, now=now, urgency=urgency, channel=channel, delay=parse_duration(after)
            )


def policy(db, now, *levels: str, repeat: int = 0, ack_timeout: str | None = None, name: str = "ops") -> None:
    with transaction(db.sessions) as session:
        policies.add_policy(
            session=session,
            now=now,
            name=name,
            levels=[parse_level(text) for text in levels],
            repeat=repeat,
            ack_timeout=parse_duration(ack_timeout) if ack_timeout else None,
        )
        policies.add_route(session=session, now=now, policy=name, matchers=['service=~"voip-.*"'])


def fire(db, now, service: str = "voip-core", key: str = "voip/core/down") -> int:
    with transaction(db.sessions) as session:
        record(
            Finding(key, "checks", service, Severity.CRITICAL, State.FIRING, f"{service} is down", now),
            session=session,
            now=now,
            config=NOW_WAIT,
        )
    with transaction(db.sessions) as session:
        return max(i.id for i in list_incidents(session=session, service=service))


def runtime(db, clock: SimulatedClock) -> Runtime:
    return Runtime(db.settings, clock, db.sessions)


def escalate(db, clock: SimulatedClock, sessions: sessionmaker[Session] | None = None) -> int:
    """One tick of the escalation due jobs; how many rows they claimed."""
    rt = runtime(db, clock)
    if sessions is not None:
        rt.sessions = sessions
    return sum(drain(job, rt.sessions, clock) for job in wiring.due_jobs(rt) if job.name == "escalation")


def pages(db, incident_id: int) -> list[tuple[str, str, int, str]]:
    """(recipient, channel, minutes after the incident opened it is due or was sent, status), as the outbox holds them."""
    with transaction(db.sessions) as session:
        opened = timeline(incident_id, session=session)[0].at
        rows = session.scalars(
            select(Notification)
            .where(Notification.subject_id == incident_id, Notification.key.like("incident:%:page:%"))
            .order_by(Notification.id)
        )
        return [
            (
                n.recipient,
                n.url.split("to=")[1].split("@")[0] if "to=" in n.url else n.url,
                int(((n.due_at or n.sent_at or n.created_at) - opened).total_seconds() // 60),
                str(n.status),
            )
            for n in rows
        ]


def said(db, incident_id: int) -> list[str]:
    with transaction(db.sessions) as session:
        return [e.message for e in timeline(incident_id, session=session)]


class Mailbox:
    """An SMTP server on loopback (aiosmtpd) that keeps who each message went to, and its subject."""

    def __init__(self) -> None:
        import socket

        from aiosmtpd.controller import Controller

        self.received: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, str]] = []
        self.holding = False
        self.held: set[int] = set()  # the client ports of the sends held at RCPT
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def hold(self) -> None:
        """Hold every send at its recipient, before the message is sent: a sender killed now has
        had nothing accepted."""
        self.holding = True

    def release(self) -> None:
        self.holding = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        import asyncio

        while self.holding:
            self.held.add(session.peer[1])
            await asyncio.sleep(0.02)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        import email

        message = email.message_from_bytes(envelope.original_content)
        text = next(p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/plain")
        self.received += [(to.split("@")[0], message["Subject"]) for to in envelope.rcpt_tos]
        self.bodies += [(to.split("@")[0], text) for to in envelope.rcpt_tos]
        return "250 OK"


def deliver(db, clock: SimulatedClock) -> None:
    """One tick of the outbox's job: what is due goes out (email to the Mailbox; calls to no dialer)."""
    rt = runtime(db, clock)
    for job in wiring.due_jobs(rt):
        if job.name == "notify":
            drain(job, rt.sessions, clock)
