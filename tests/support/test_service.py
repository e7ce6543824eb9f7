"""The support desk on SQLite and PostgreSQL: plans, customers, cases, SLA clocks as due rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service
from watchkeeper.support import service as desk
from watchkeeper.support.models import SlaBreach
from watchkeeper.support.sla import CaseStatus, Priority, Targets

H = timedelta(hours=1)
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def setup(db):
    with transaction(db.sessions) as session:
        desk.add_plan(
            session=session,
            now=MONDAY_10,
            name="8x5",
            hours="Mon-Fri 09:00-17:00",
            timezone="Europe/London",
            holidays="GB-ENG",
            targets={Priority.P1: Targets(first_response=H, update=4 * H, resolution=8 * H)},
        )
        for name in ("acme-voip-uk", "acme-sms", "globex-data"):
            session.add(
                Service(
                    name=name,
                    stage="production",
                    first_seen=MONDAY_10,
                    last_seen=MONDAY_10,
                    last_received_at=MONDAY_10,
                    created_at=MONDAY_10,
                )
            )
        session.flush()
        desk.add_customer(session=session, now=MONDAY_10, name="Acme", plan="8x5", service_pattern="acme-.*")
    return db


def act(db, fn, **kwargs):
    with transaction(db.sessions) as session:
        return fn(session=session, **kwargs)


def test_a_customer_claims_its_services_by_name_rule(setup):
    with transaction(setup.sessions) as session:
        acme = desk.get_customer("Acme", session=session)
        assert desk.services_of(acme, session=session) == ["acme-sms", "acme-voip-uk"]
        desk.assign_service("globex-data", "Acme", session=session)
        assert "globex-data" in desk.services_of(acme, session=session)


def test_a_new_case_has_a_due_row_at_its_first_warning(setup):
    case = act(
        setup,
        desk.open_case,
        now=MONDAY_10,
        customer="Acme",
        title="CDRs missing since 09:00",
        priority=Priority.P1,
        author="anna",
    )
    assert case.due_at == MONDAY_10 + timedelta(minutes=48)  # 80 % of the 1 h first response


def test_the_scheduler_warns_then_breaches_and_escalates_once(setup):
    case = act(
        setup, desk.open_case, now=MONDAY_10, customer="Acme", title="CDRs missing", priority=Priority.P1, author="anna"
    )
    assert act(setup, desk.process_due, now=MONDAY_10 + timedelta(minutes=50)) == 1
    assert act(setup, desk.process_due, now=MONDAY_10 + timedelta(minutes=55)) == 0  # next due: the breach
    act(setup, desk.process_due, now=MONDAY_10 + timedelta(minutes=61))
    act(setup, desk.process_due, now=MONDAY_10 + timedelta(minutes=62))
    with transaction(setup.sessions) as session:
        case = desk.get_case(case.id, session=session)
        kinds = [e.kind for e in desk.entries(case, session=session)]
        breaches = session.query(SlaBreach).all()
        assert kinds == ["opened", "sla_warning", "sla_breach"]
        assert case.escalation_level == 1
        assert [(b.target, b.breached_at) for b in breaches] == [("first_response", MONDAY_10 + H)]


def test_a_breach_is_sent_to_the_escalation_contacts_once(setup):
    from watchkeeper.notify.outbox import list_notifications

    act(
        setup,
        desk.add_contact,
        customer="Acme",
        name="Carol",
        role=desk.ContactRole.ESCALATION,
        channel="mailto://carol@acme.example",
    )
    act(
        setup,
        desk.add_contact,
        customer="Acme",
        name="Bob",
        role=desk.ContactRole.TECHNICAL,
        channel="mailto://bob@acme.example",
    )
    case = act(
        setup, desk.open_case, now=MONDAY_10, customer="Acme", title="CDRs missing", priority=Priority.P1, author="anna"
    )
    for minutes in (61, 62, 90):
        act(setup, desk.process_due, now=MONDAY_10 + timedelta(minutes=minutes))
    with transaction(setup.sessions) as session:
        sent = list_notifications(session=session, subject="case", subject_id=case.id)
    assert [(n.recipient, n.title) for n in sent] == [
        ("Carol", f"Case {case.id} (p1): first_response target of 1:00:00 breached")
    ]


def test_a_public_reply_meets_the_first_response_and_waiting_on_the_customer_pauses(setup):
    case = act(
        setup, desk.open_case, now=MONDAY_10, customer="Acme", title="CDRs missing", priority=Priority.P1, author="anna"
    )
    act(
        setup,
        desk.reply,
        case_id=case.id,
        text="Looking into it",
        public=True,
        author="anna",
        now=MONDAY_10 + timedelta(minutes=20),
    )
    act(
        setup,
        desk.set_status,
        case_id=case.id,
        status=CaseStatus.PENDING_CUSTOMER,
        author="anna",
        now=MONDAY_10 + timedelta(minutes=30),
    )
    with transaction(setup.sessions) as session:
        case = desk.get_case(case.id, session=session)
        assert case.status == "pending_customer" and case.due_at is None
        states = {c.target: c.state for c in desk.clocks(case, session=session, now=MONDAY_10 + 5 * H)}
    assert states == {"first_response": "met", "update": "paused", "resolution": "paused"}


def test_an_internal_note_stops_no_clock(setup):
    case = act(setup, desk.open_case, now=MONDAY_10, customer="Acme", title="x", priority=Priority.P1, author="a")
    act(setup, desk.reply, case_id=case.id, text="checking logs", public=False, author="anna", now=MONDAY_10)
    with transaction(setup.sessions) as session:
        first = desk.clocks(desk.get_case(case.id, session=session), session=session, now=MONDAY_10 + H)[0]
    assert first.state == "breached"


def test_bad_input_is_refused_with_what_to_fix(setup):
    with pytest.raises(ValueError, match="not a time range"):
        act(setup, desk.add_plan, now=MONDAY_10, name="x", hours="Mon-Fri 9-5")
    with pytest.raises(LookupError, match="no support plan 'gold'"):
        act(setup, desk.add_customer, now=MONDAY_10, name="Initech", plan="gold")
    with pytest.raises(ValueError, match="Apprise URL"):
        act(setup, desk.add_contact, customer="Acme", name="Bob", role=desk.ContactRole.TECHNICAL, channel="bob@x")


def test_what_a_plan_customer_contact_or_case_cannot_mean_is_refused_not_stored_or_cut(setup):
    plan = {"now": MONDAY_10, "hours": "Mon-Fri 09:00-17:00"}
    for name, said in (
        ("", "needs a name"),
        ("   ", "needs a name"),
        ("x" * 101, "at most 100"),
        ("Gold\x1b[31m", "control characters"),
    ):
        with pytest.raises(ValueError, match=said):
            act(setup, desk.add_plan, name=name, **plan)
    for target, said in (
        (timedelta(seconds=30), "a minute to a year"),
        (timedelta(days=99999999), "a minute to a year"),
    ):
        with pytest.raises(ValueError, match=said):
            act(setup, desk.add_plan, name="fast", targets={Priority.P1: Targets(first_response=target)}, **plan)
    with pytest.raises(ValueError, match="a customer named 'Acme' exists"):
        act(setup, desk.add_customer, now=MONDAY_10, name="Acme ", plan="8x5")
    for channel in ("://", "mailto://", "x" * 600 + "://y"):
        with pytest.raises(ValueError, match="Apprise URL"):
            act(setup, desk.add_contact, customer="Acme", name="Bob", role=desk.ContactRole.TECHNICAL, channel=channel)
    case = {"now": MONDAY_10, "customer": "Acme", "priority": Priority.P3, "author": "anna"}
    with pytest.raises(ValueError, match="title is at most 500 characters; this one has 600"):
        act(setup, desk.open_case, title="t" * 600, **case)
    with pytest.raises(ValueError, match="description is at most 8,000 characters"):
        act(setup, desk.open_case, title="t", description="d" * 9000, **case)


def test_a_service_moves_between_customers_only_when_told_and_cases_never_go_back_to_new(setup):
    act(setup, desk.add_customer, now=MONDAY_10, name="Globex", plan="8x5")
    with pytest.raises(ValueError, match="acme-sms is Acme's; say so to move it to Globex"):
        act(setup, desk.assign_service, service="acme-sms", customer="Globex")
    act(setup, desk.assign_service, service="acme-sms", customer="Globex", move=True)
    case = act(
        setup, desk.open_case, now=MONDAY_10, customer="Acme", title="late CDRs", priority=Priority.P3, author="anna"
    )
    act(setup, desk.set_status, case_id=case.id, status=CaseStatus.RESOLVED, author="anna", now=MONDAY_10)
    with pytest.raises(ValueError, match="new only until it is worked"):
        act(setup, desk.set_status, case_id=case.id, status=CaseStatus.NEW, author="anna", now=MONDAY_10)
    act(setup, desk.set_status, case_id=case.id, status=CaseStatus.CLOSED, author="anna", now=MONDAY_10)
    with pytest.raises(ValueError, match="is closed; open a new case to write to the customer"):
        act(setup, desk.reply, case_id=case.id, text="done?", public=True, author="anna", now=MONDAY_10)


def test_an_empty_holiday_country_means_none_and_breaks_no_case(setup):
    """'--holidays ""' was stored as "", which every later look-up took for a country
    code: opening a case, and routing any alert of the plan's customers, failed."""
    act(
        setup,
        desk.add_plan,
        now=MONDAY_10,
        name="no-holidays",
        hours="Mon-Fri 09:00-17:00",
        holidays="",
        targets={Priority.P1: Targets(first_response=H)},
    )
    act(setup, desk.add_customer, now=MONDAY_10, name="Globex", plan="no-holidays", service_pattern="globex-.*")
    with transaction(setup.sessions) as session:
        assert desk.get_plan("no-holidays", session=session).holidays is None
    case = act(
        setup, desk.open_case, now=MONDAY_10, customer="Globex", title="down", priority=Priority.P1, author="anna"
    )
    assert case.due_at is not None


def test_the_work_log_cannot_be_rewritten(setup):
    case = act(setup, desk.open_case, now=MONDAY_10, customer="Acme", title="x", priority=Priority.P1, author="a")
    with pytest.raises(RuntimeError, match="append-only"):
        with transaction(setup.sessions) as session:
            (entry,) = desk.entries(desk.get_case(case.id, session=session), session=session)
            session.delete(entry)
            session.flush()
