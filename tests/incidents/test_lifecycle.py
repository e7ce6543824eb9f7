"""Incident moves and MTTA/MTTR from timelines. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper.incidents.lifecycle import Action, Entry, InvalidTransition, Status, next_status, timings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "status,action,expected",
    [
        (Status.TRIGGERED, Action.ACKNOWLEDGE, Status.ACKNOWLEDGED),
        (Status.TRIGGERED, Action.RESOLVE, Status.RESOLVED),
        (Status.ACKNOWLEDGED, Action.RESOLVE, Status.RESOLVED),
        (Status.RESOLVED, Action.CLOSE, Status.CLOSED),
    ],
)
def test_allowed_moves(status, action, expected):
    assert next_status(status, action) is expected


@pytest.mark.parametrize(
    "status,action",
    [
        (Status.ACKNOWLEDGED, Action.ACKNOWLEDGE),
        (Status.TRIGGERED, Action.CLOSE),
        (Status.RESOLVED, Action.ACKNOWLEDGE),
        (Status.CLOSED, Action.RESOLVE),
    ],
)
def test_refused_moves_say_what_is_possible(status, action):
    with pytest.raises(InvalidTransition, match=f"cannot {action} incident: it is {status}; "):
        next_status(status, action)
    with pytest.raises(InvalidTransition, match="; it can be acknowledged or resolved$"):
        next_status(Status.TRIGGERED, Action.CLOSE)
    with pytest.raises(InvalidTransition, match="; a closed incident is final$"):
        next_status(Status.CLOSED, Action.RESOLVE)


def minutes(n):
    return T0 + timedelta(minutes=n)


def test_mtta_and_mttr_come_from_the_timeline():
    found = timings(
        [
            [(Entry.OPENED, minutes(0)), (Entry.ACKNOWLEDGED, minutes(4)), (Entry.RESOLVED, minutes(30))],
            [
                (Entry.OPENED, minutes(0)),
                (Entry.NOTE, minutes(1)),
                (Entry.RESOLVED, minutes(10)),
            ],  # resolve counts as ack
            [(Entry.OPENED, minutes(0))],  # still open: in neither mean
        ]
    )
    assert (found.incidents, found.acknowledged, found.resolved) == (3, 2, 2)
    assert found.mtta == timedelta(minutes=7) and found.mttr == timedelta(minutes=20)
    assert found.median_tta == timedelta(minutes=7)


def test_no_incidents_no_means():
    found = timings([])
    assert (found.incidents, found.mtta, found.mttr) == (0, None, None)
