"""Asking a customer and acting on the answer, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.support.desk_setup import SATURDAY_3AM, silent_acme_feed
from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service
from watchkeeper.incidents.service import list_incidents, timeline
from watchkeeper.support import service as desk
from watchkeeper.support.sla import Priority
from watchkeeper.web.app import create_app


@pytest.fixture
def api(db):
    clock, token = silent_acme_feed(db)
    client = TestClient(
        create_app(
            settings=db.settings.model_copy(update={"public_url": "https://desk.example"}),
            clock=clock,
            engine=db.engine,
        )
    )
    client.headers["Authorization"] = f"Bearer {token}"
    client.clock = clock
    return client


def ask(api, **extra):
    with transaction(api.app.state.sessions) as session:
        (incident,) = list_incidents(session=session)
        (case,) = desk.list_cases(session=session)
    body = {"service": "acme-cdr", "incident_id": incident.id, "case_id": case.id} | extra
    answer = api.post("/api/v1/enquiries", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json(), incident.id, case.id


def path(link):
    assert link.startswith("https://desk.example/enquiries/answer?token=")
    return link.removeprefix("https://desk.example")


def confirm(api, link):
    page = api.get(path(link), headers={"Authorization": ""})
    assert page.status_code == 200
    token = re.search(r"name='token' value='([^']+)'", page.text).group(1)
    return api.post("/enquiries/answer", data={"token": token}, headers={"Authorization": ""})


def test_not_expected_raises_the_incident_and_the_case(api):
    out, incident_id, case_id = ask(api)
    assert "Is this expected?" in out["question"]
    done = confirm(api, out["links"]["not_expected"])
    assert "we are investigating now" in done.text
    with transaction(api.app.state.sessions) as session:
        (incident,) = list_incidents(session=session)
        case = desk.get_case(case_id, session=session)
        kinds = [e.kind for e in timeline(incident_id, session=session)]
        log = [(e.kind, e.author) for e in desk.entries(case, session=session)]
    assert (incident.urgency, incident.raise_at) == ("high", None)  # it was low: Saturday, 8x5
    assert case.priority == "p1"
    assert kinds[-2:] == ["enquiry_sent", "customer_answer"]
    assert ("customer", "customer:Acme") in log


def test_expected_snoozes_the_service_and_a_link_works_once(api):
    out, _, _ = ask(api, snooze_hours=48)
    confirm(api, out["links"]["expected"])
    with transaction(api.app.state.sessions) as session:
        service = session.query(Service).filter_by(name="acme-cdr").one()
    assert service.settings["snooze_until"].startswith("2026-11-23T03:00")
    other = out["links"]["not_expected"]
    assert "This enquiry was answered on" in api.get(path(other)).text
    again = api.post("/enquiries/answer", data={"token": other.split("token=")[1]})
    assert "already answered (expected)" in again.text
    with transaction(api.app.state.sessions) as session:
        assert desk.list_cases(session=session)[0].priority == "p2"  # the second answer changed nothing


def test_expected_can_move_the_service_to_test(api):
    out, _, _ = ask(api, if_expected="test")
    confirm(api, out["links"]["expected"])
    with transaction(api.app.state.sessions) as session:
        assert session.query(Service).filter_by(name="acme-cdr").one().stage == "test"


def test_opening_a_link_answers_nothing_and_bad_or_old_links_reveal_nothing(api):
    out, _, _ = ask(api)
    assert api.get(path(out["links"]["not_expected"])).status_code == 200
    with transaction(api.app.state.sessions) as session:
        assert desk.list_cases(session=session)[0].priority == "p2"  # still as it was
    tampered = path(out["links"]["expected"])[:-3] + "abc"
    for bad in (tampered, "/enquiries/answer?token=1.2"):
        page = api.get(bad)
        assert page.status_code == 404 and "not valid or has expired" in page.text and "acme" not in page.text
    api.clock.set(SATURDAY_3AM + timedelta(hours=72))
    assert api.get(path(out["links"]["expected"])).status_code == 404


def test_an_enquiry_may_name_only_its_own_customers_case_and_incident(api):
    """An answer writes to the case named: another customer's case would be raised
    by this customer's answer, and its readers would see this customer's enquiry."""
    with transaction(api.app.state.sessions) as session:
        desk.add_customer(session=session, now=SATURDAY_3AM, name="Beta", plan="8x5")
        other = desk.open_case(
            session=session,
            now=SATURDAY_3AM,
            customer="Beta",
            title="billing question",
            priority=Priority.P2,
            author="anna",
        )
        other_id = other.id
    for body, said in (
        ({"case_id": other_id}, f"no case {other_id} of Acme"),
        ({"case_id": 99999}, "no case 99999"),
        ({"incident_id": 99999}, "no incident 99999 of Acme"),
    ):
        answer = api.post("/api/v1/enquiries", json={"service": "acme-cdr", **body})
        assert (answer.status_code, said in answer.json()["detail"]) == (404, True), answer.text
    with transaction(api.app.state.sessions) as session:
        assert [c.priority for c in desk.list_cases(session=session, customer="Beta")] == ["p2"]


def test_asking_about_a_service_without_a_customer_says_what_to_do(api):
    with transaction(api.app.state.sessions) as session:
        session.add(
            Service(
                name="orphan",
                stage="production",
                first_seen=SATURDAY_3AM,
                last_seen=SATURDAY_3AM,
                last_received_at=SATURDAY_3AM,
                created_at=SATURDAY_3AM,
            )
        )
    answer = api.post("/api/v1/enquiries", json={"service": "orphan"})
    assert answer.status_code == 404 and "customers assign" in answer.json()["detail"]


def test_the_enquiry_reaches_the_technical_contact_and_the_outcome_is_on_case_and_incident(api):
    from tests.notify.test_outbox import Receiver
    from watchkeeper.notify.outbox import AppriseSender, deliver_due
    from watchkeeper.support.outcomes import record_outcome

    server = __import__("http.server").server.HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received = []
    __import__("threading").Thread(target=server.serve_forever, daemon=True).start()
    try:
        with transaction(api.app.state.sessions) as session:
            desk.add_contact(
                session=session,
                customer="Acme",
                name="Bob",
                role=desk.ContactRole.TECHNICAL,
                channel=f"json://127.0.0.1:{server.server_address[1]}/hook",
            )
        out, incident_id, case_id = ask(api)
        assert (
            deliver_due(api.app.state.sessions, sender=AppriseSender(), now=api.clock.now, on_outcome=record_outcome)
            == 1
        )
    finally:
        server.shutdown()
    (message,) = Receiver.received
    assert message["title"] == "Is the silence on acme-cdr expected?"
    assert out["links"]["expected"] in message["message"] and out["links"]["not_expected"] in message["message"]
    with transaction(api.app.state.sessions) as session:
        entries = [(e.kind, e.message) for e in timeline(incident_id, session=session)]
        log = [(e.kind, e.text) for e in desk.entries(desk.get_case(case_id, session=session), session=session)]
    assert entries[-1][0] == "notification" and "notified Bob via json://127.0.0.1" in entries[-1][1]
    assert log[-1][0] == "notification"


def test_an_enquiry_by_real_email_answered_by_following_its_expected_link(api):
    import email
    import socket
    import time

    from aiosmtpd.controller import Controller

    from watchkeeper.notify.outbox import AppriseSender, deliver_due
    from watchkeeper.support.outcomes import record_outcome

    inbox = []

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):
            inbox.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with transaction(api.app.state.sessions) as session:
            desk.add_contact(
                session=session,
                customer="Acme",
                name="Bob",
                role=desk.ContactRole.TECHNICAL,
                channel=f"mailto://127.0.0.1:{port}?from=desk@operator.example&to=bob@acme.example"
                "&mode=insecure&format=text",
            )
        _, incident_id, _ = ask(api)
        deliver_due(api.app.state.sessions, sender=AppriseSender(), now=api.clock.now, on_outcome=record_outcome)
        for _ in range(20):
            if inbox:
                break
            time.sleep(0.1)
    finally:
        smtp.stop()
    (mail,) = inbox
    assert mail.rcpt_tos == ["bob@acme.example"]
    message = email.message_from_bytes(mail.original_content)
    assert message["Subject"] == "Is the silence on acme-cdr expected?"
    text = next(p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/plain")
    expected_link = re.search(r"Expected \(we are testing, or it is planned\):\s+(\S+)", text).group(1)

    tampered = path(expected_link).replace("token=", "token=x")
    assert api.get(tampered, headers={"Authorization": ""}).status_code == 404
    done = confirm(api, expected_link)
    assert "we will treat it as planned" in done.text
    with transaction(api.app.state.sessions) as session:
        service = session.query(Service).filter_by(name="acme-cdr").one()
        kinds = [e.kind for e in timeline(incident_id, session=session)]
    assert service.settings["snooze_until"].startswith("2026-11-22T03:00")  # 24 h from Saturday 03:00
    assert kinds[-3:] == ["enquiry_sent", "notification", "customer_answer"]
    api.clock.set(SATURDAY_3AM + timedelta(hours=73))
    assert api.get(path(expected_link), headers={"Authorization": ""}).status_code == 404  # expired
