"""A page by telephone, end to end: an incident fires, the escalation pages alice's `sip:` rule,
the outbox's due job rings her real phone (baresip) through a real Kamailio trunk, and what she
does with it (press 1, or reject the call) is what the incident and its escalation show.

The trunk is set as an operator sets it, `WATCHKEEPER_VOICE_TRUNK`, and read by
`wiring.paging_options`; the due jobs are the ones `watchkeeper run` ticks."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.notify.voice.phones import (  # noqa: F401  (the fixtures)
    TRUNK_PASSWORD,
    TRUNK_USER,
    Phone,
    needs_phones,
    phones,
    registrar,
    rms_amplitude,
)
from watchkeeper import wiring
from watchkeeper.auth.users import add_user
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.finding import Urgency
from watchkeeper.incidents.service import get
from watchkeeper.oncall import policies
from watchkeeper.oncall.escalation import parse_duration
from watchkeeper.scheduler import drain

from ..conftest import NOW
from .escalation_helpers import Runtime, fire, mail, pages, policy, said

pytestmark = [needs_phones, pytest.mark.parametrize("db", ["sqlite"], indirect=True)]

HEARD_FLOOR = 0.02  # sox RMS amplitude, as tests/notify/voice/test_call.py: speech is around 0.07, silence 0


def voice_runtime(db, registrar, clock: SimulatedClock) -> Runtime:  # noqa: F811
    url = f"sip://{TRUNK_USER}:{quote(TRUNK_PASSWORD)}@127.0.0.1:{registrar.port}?name=watchkeeper%20on-call"
    return Runtime(db.settings.model_copy(update={"voice_trunk": url}), clock, db.sessions)


def tick(rt: Runtime, name: str) -> int:
    paging = wiring.paging_options(rt.settings)
    return sum(drain(job, rt.sessions, rt.clock) for job in wiring.due_jobs(rt, paging=paging) if job.name == name)


def on_call(db, phone: Phone) -> None:
    """alice is called at once for high urgency; bob, level 2, is emailed."""
    with transaction(db.sessions) as session:
        for name in ("alice", "bob"):
            add_user(session=session, now=NOW, name=name, role="engineer")
        policies.add_rule(
            "alice",
            session=session,
            now=NOW,
            urgency=Urgency.HIGH,
            channel=f"sip:{phone.user}",
            delay=parse_duration("0m"),
        )
        policies.add_rule(
            "bob", session=session, now=NOW, urgency=Urgency.HIGH, channel=mail("bob"), delay=parse_duration("0m")
        )
    policy(db, NOW, "users=alice;timeout=15m", "users=bob;timeout=30m")


def in_background(act) -> threading.Thread:
    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread


def when_logged(phone: Phone, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in phone.log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            return  # the assertions on the incident say what went wrong
        time.sleep(0.05)


def test_a_page_answered_with_1_acknowledges_the_incident_and_stops_the_escalation(db, registrar, phones):  # noqa: F811
    phone = phones("alice")
    on_call(db, phone)
    clock = SimulatedClock(NOW)
    rt = voice_runtime(db, registrar, clock)
    incident = fire(db, NOW)

    assert tick(rt, "escalation") == 1
    assert pages(db, incident) == [("alice", "sip:alice", 0, "pending")]

    def press_1_once_the_message_began() -> None:
        when_logged(phone, "Call established")
        time.sleep(1.5)
        phone.press("1")

    pressing = in_background(press_1_once_the_message_began)
    tick(rt, "calls")  # places the call, and returns when it ended
    pressing.join(timeout=20)

    with transaction(db.sessions) as session:
        opened = get(incident, session=session)
        assert (opened.status, opened.acknowledged_by) == ("acknowledged", "alice")
    timeline = said(db, incident)
    assert "called alice at sip:alice: acknowledged by phone (DTMF 1)" in timeline
    assert any(m.startswith("escalation stopped: acknowledged by alice") for m in timeline), timeline
    assert pages(db, incident) == [("alice", "sip:alice", 0, "sent")]
    assert rms_amplitude(phone.heard()) > HEARD_FLOOR  # she heard the message, not silence

    # Level 2 never comes: bob is not paged after alice's timeout.
    clock.advance(timedelta(minutes=16))
    tick(rt, "escalation")
    assert [p[0] for p in pages(db, incident)] == ["alice"]


def test_a_page_rejected_as_busy_is_not_acknowledged_and_level_2_follows(db, registrar, phones):  # noqa: F811
    phone = phones("alice", answer="manual")
    on_call(db, phone)
    clock = SimulatedClock(NOW)
    rt = voice_runtime(db, registrar, clock)
    incident = fire(db, NOW)
    tick(rt, "escalation")

    def reject_when_ringing() -> None:
        when_logged(phone, "Incoming call from")
        phone.key(b"b")  # baresip's menu: hang up the ringing call, a 486 Busy Here

    rejecting = in_background(reject_when_ringing)
    tick(rt, "calls")
    rejecting.join(timeout=20)

    with transaction(db.sessions) as session:
        assert get(incident, session=session).status == "triggered"
    timeline = said(db, incident)
    busy = [m for m in timeline if m.startswith("called alice at sip:alice: not acknowledged")]
    assert busy == ["called alice at sip:alice: not acknowledged (busy: 486 Rejected)"], timeline
    assert not any(m.startswith("escalation stopped") for m in timeline)

    clock.advance(timedelta(minutes=14))
    tick(rt, "escalation")
    assert [p[0] for p in pages(db, incident)] == ["alice"]
    clock.advance(timedelta(minutes=1))
    tick(rt, "escalation")
    assert pages(db, incident) == [("alice", "sip:alice", 0, "sent"), ("bob", "bob", 15, "pending")]
