"""On-call schedules stored and read back, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import watchkeeper.models  # noqa: F401  (registers every table)
from watchkeeper.auth.users import add_user
from watchkeeper.db import Base, transaction
from watchkeeper.errors import Conflict, Invalid, NotFound
from watchkeeper.oncall import service

from ..conftest import NOW

MONDAY = date(2026, 11, 23)  # NOW is Monday 23 November 2026, 12:00 UTC (13:00 in Berlin)


@pytest.fixture
def desk(db):
    with transaction(db.sessions) as session:
        for name in ("ann", "bob", "cho"):
            add_user(session=session, now=NOW, name=name, role="engineer")
        service.add_schedule("primary", session=session, now=NOW, tz="Europe/Berlin")
        service.add_layer(
            "primary", session=session, now=NOW, users=["ann", "bob"], shift="1w", start=MONDAY, handoff="09:00"
        )
    return db


def test_the_tables_are_what_the_migration_makes(db):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [d for d in differences if "oncall" in repr(d)]
    assert ours == []


def test_a_stored_schedule_says_who_is_on_call_now_and_next(desk):
    with transaction(desk.sessions) as session:
        (answer,) = service.who(session=session, at=NOW)
        assert answer.now is not None and answer.now.user == "ann"
        assert answer.next is not None and answer.next.user == "bob"
        assert answer.next.start == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
        people = service.who_is_on_call(session, answer.schedule.id, NOW + timedelta(days=7))
        assert [p.name for p in people] == ["bob"]


def test_an_override_wins_and_removing_it_gives_the_layer_back(desk):
    with transaction(desk.sessions) as session:
        made = service.add_override("primary", "cho", session=session, now=NOW, start=NOW, end=NOW + timedelta(hours=2))
        schedule_id = made.schedule_id
        override_id = made.id
    with transaction(desk.sessions) as session:
        assert [u.name for u in service.who_is_on_call(session, schedule_id, NOW + timedelta(hours=1))] == ["cho"]
        shifts = service.shifts("primary", session=session, start=NOW, end=NOW + timedelta(hours=4))
        assert [(s.user, s.end - s.start) for s in shifts] == [("cho", timedelta(hours=2)), ("ann", timedelta(hours=2))]
        service.remove_override("primary", override_id, session=session)
    with transaction(desk.sessions) as session:
        assert [u.name for u in service.who_is_on_call(session, schedule_id, NOW + timedelta(hours=1))] == ["ann"]


def test_who_is_on_call_follows_each_edit_of_the_schedule_at_once(desk):
    with transaction(desk.sessions) as session:
        assert [u.name for u in service.who_is_on_call(session, "primary", NOW)] == ["ann"]
        service.add_layer("primary", session=session, now=NOW, users=["cho"], shift="1d", start=MONDAY)
        assert [u.name for u in service.who_is_on_call(session, "primary", NOW)] == ["cho"]
        service.add_override("primary", "bob", session=session, now=NOW, start=NOW, end=NOW + timedelta(hours=1))
        assert [u.name for u in service.who_is_on_call(session, "primary", NOW)] == ["bob"]
    with transaction(desk.sessions) as session:
        (override,) = service.get_schedule("primary", session=session).overrides
        service.remove_override("primary", override.id, session=session)
        service.remove_layer("primary", 2, session=session)
    with transaction(desk.sessions) as session:
        assert [u.name for u in service.who_is_on_call(session, "primary", NOW)] == ["ann"]


def test_a_higher_restricted_layer_takes_office_hours_and_show_lists_both(desk):
    with transaction(desk.sessions) as session:
        service.add_layer(
            "primary",
            session=session,
            now=NOW,
            users=["cho"],
            shift="1d",
            start=MONDAY,
            handoff="08:00",
            restrict="Mon-Fri 08:00-18:00",
        )
        shown = service.schedule_view(service.get_schedule("primary", session=session), now=NOW)
        assert [(la["number"], la["users"], la["restrictions"]) for la in shown["layers"]] == [
            (1, ["ann", "bob"], None),
            (2, ["cho"], "Mon-Fri 08:00-18:00"),
        ]
        (answer,) = service.who(session=session, at=NOW)
        assert answer.now.user == "cho" and answer.next.user == "ann"
        service.remove_layer("primary", 2, session=session)
        assert service.who(session=session, at=NOW)[0].now.user == "ann"


def test_removing_a_schedule_removes_its_layers_and_overrides(desk):
    with transaction(desk.sessions) as session:
        service.add_override("primary", "cho", session=session, now=NOW, start=NOW, end=NOW + timedelta(hours=1))
        service.remove_schedule("primary", session=session)
    with transaction(desk.sessions) as session:
        assert service.list_schedules(session=session) == []
        from watchkeeper.oncall.models import OncallLayer, OncallMember, OncallOverride

        for table in (OncallLayer, OncallMember, OncallOverride):
            assert session.query(table).count() == 0


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: service.add_schedule("x", session=s, now=NOW, tz="Mars/Olympus"), Invalid, "unknown time zone"),
        (lambda s: service.add_schedule("primary", session=s, now=NOW), Conflict, "exists"),
        (
            lambda s: service.add_layer("primary", session=s, now=NOW, users=["zed"], shift="1d", start=MONDAY),
            NotFound,
            "no user 'zed'",
        ),
        (
            lambda s: service.add_layer("primary", session=s, now=NOW, users=["ann"], shift="1y", start=MONDAY),
            Invalid,
            "not a shift length",
        ),
        (
            lambda s: service.add_layer(
                "primary", session=s, now=NOW, users=["ann"], shift="1d", start=MONDAY, restrict="Funday 9-5"
            ),
            Invalid,
            "days are Mon..Sun",
        ),
        (
            lambda s: service.add_layer(
                "primary", session=s, now=NOW, users=["ann"], shift="1d", start=MONDAY, handoff="9am"
            ),
            Invalid,
            "not a handoff time",
        ),
        (
            lambda s: service.add_override(
                "primary", "ann", session=s, now=NOW, start=NOW, end=NOW - timedelta(hours=1)
            ),
            Invalid,
            "must end after it starts",
        ),
        (
            lambda s: service.add_override("primary", "zed", session=s, now=NOW, start=NOW, end=NOW),
            NotFound,
            "no user 'zed'",
        ),
        (lambda s: service.get_schedule("secondary", session=s), NotFound, "no schedule 'secondary'"),
        (lambda s: service.remove_layer("primary", 5, session=s), NotFound, "has no layer 5"),
    ],
)
def test_bad_input_is_refused_saying_what_is_wrong(desk, call, error, message):
    with transaction(desk.sessions) as session:
        with pytest.raises(error, match=message):
            call(session)


def test_a_customers_user_does_not_go_on_call(desk):
    from watchkeeper.support.service import add_customer, add_plan

    with transaction(desk.sessions) as session:
        add_plan(session=session, now=NOW, name="basic", hours="24x7")
        customer = add_customer(session=session, now=NOW, name="acme", plan="basic")
        add_user(session=session, now=NOW, name="wile", role="customer", customer_id=customer.id)
        with pytest.raises(Invalid, match="only the operator's staff"):
            service.add_override("primary", "wile", session=session, now=NOW, start=NOW, end=NOW + timedelta(hours=1))


def test_a_calendar_key_opens_its_own_feed_only(desk):
    with transaction(desk.sessions) as session:
        key = service.make_calendar_key(session=session, now=NOW, schedule="primary")
        user_key = service.make_calendar_key(session=session, now=NOW, user="ann")
    with transaction(desk.sessions) as session:
        found = service.calendar_key(key, session=session)
        assert found is not None and found.schedule_id is not None and found.user_id is None
        assert service.calendar_key(user_key, session=session).user_id is not None
        assert service.calendar_key("guess", session=session) is None
        assert service.revoke_calendar_keys(session=session, schedule="primary") == 1
        assert service.calendar_key(key, session=session) is None


def test_the_migration_goes_down_and_up_again(db):
    from alembic import command
    from sqlalchemy import inspect

    from watchkeeper.db import _alembic_config, upgrade

    command.downgrade(_alembic_config(db.engine), "0019")
    assert not [t for t in inspect(db.engine).get_table_names() if t.startswith("oncall_")]
    upgrade(db.engine)
    assert sorted(t for t in inspect(db.engine).get_table_names() if t.startswith("oncall_")) == [
        "oncall_calendar_keys",
        "oncall_layers",
        "oncall_members",
        "oncall_overrides",
        "oncall_schedules",
    ]
