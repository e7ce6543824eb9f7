"""An enquiry takes one answer, even when its links are posted many times at the same moment."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from tests.support.desk_setup import silent_acme_feed
from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service
from watchkeeper.incidents.service import list_incidents, timeline
from watchkeeper.support import enquiries
from watchkeeper.support import service as desk
from watchkeeper.web.app import create_app


@pytest.fixture
def asked(db):
    """An 8x5 customer's silent feed on a Saturday: a low-urgency incident, a p2 case, an enquiry about it."""
    clock, token = silent_acme_feed(db)
    with transaction(db.sessions) as session:
        (incident,) = list_incidents(session=session)
        (case,) = desk.list_cases(session=session)
    app = create_app(settings=db.settings, clock=clock, engine=db.engine)
    staff = TestClient(app)
    staff.headers["Authorization"] = f"Bearer {token}"
    out = staff.post("/api/v1/enquiries", json={"service": "acme-cdr", "incident_id": incident.id, "case_id": case.id})
    assert out.status_code == 201, out.text
    return app, out.json()["links"], incident.id, case.id


def test_eight_answers_posted_at_once_record_one(asked, db, monkeypatch):
    app, links, incident_id, case_id = asked
    tokens = [links[answer].split("token=")[1] for answer in ("expected", "not_expected")] * 4
    # Each request reads the enquiry unanswered before any of them writes, as
    # eight posts landing together do on PostgreSQL. (On SQLite a transaction
    # holds the write lock from its first read, so they cannot all meet here:
    # the wait gives up and they go one after another.)
    everyone_read = threading.Barrier(len(tokens), timeout=3)
    real_preview = enquiries.preview

    def preview_then_wait(**kwargs):
        read = real_preview(**kwargs)
        try:
            everyone_read.wait()
        except threading.BrokenBarrierError:
            pass
        return read

    monkeypatch.setattr(enquiries, "preview", preview_then_wait)
    pages: list[str] = []
    start = threading.Barrier(len(tokens))

    def post(token):
        client = TestClient(app)  # a request of its own: its own session and connection
        start.wait()
        pages.append(client.post("/enquiries/answer", data={"token": token}).text)

    threads = [threading.Thread(target=post, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(pages) == 8
    assert sum("your answer is recorded" in p for p in pages) == 1
    assert sum("This enquiry was already answered" in p for p in pages) == 7
    with transaction(db.sessions) as session:
        answers = [e for e in timeline(incident_id, session=session) if e.kind == "customer_answer"]
        case = desk.get_case(case_id, session=session)
        (incident,) = list_incidents(session=session)
        snoozed = "snooze_until" in session.query(Service).filter_by(name="acme-cdr").one().settings
        case_entries = [e for e in desk.entries(case, session=session) if e.kind == "customer"]
    assert len(answers) == 1 and len(case_entries) == 1
    # Exactly one answer acted: either the snooze or the escalation, never both.
    escalated = (incident.urgency, case.priority) == ("high", "p1")
    assert snoozed != escalated
    assert ("NOT expected" in answers[0].message) is escalated
