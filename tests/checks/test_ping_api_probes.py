"""A ping to a probe check: refused saying why, and nothing of it stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from watchkeeper.checks import service
from watchkeeper.checks.models import CheckStatus, Ping
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.web.app import create_app

from ..conftest import NOW


@pytest.fixture
def client(db):
    return TestClient(create_app(settings=db.settings, clock=SimulatedClock(NOW), engine=db.engine))


@pytest.mark.parametrize("path", ["", "/fail", "/start"])
@pytest.mark.parametrize("body", [b"", b"all good"])
def test_a_ping_to_a_probe_check_is_refused_and_nothing_is_stored(client, db, path, body):
    with transaction(db.sessions) as session:
        code = service.add_probe("shop", "http", {"url": "http://127.0.0.1:9/"}, session=session, now=NOW).uuid
    answer = client.post(f"/ping/{code}{path}", content=body)
    assert answer.status_code == 409
    assert answer.text == (
        "check shop is an http probe: watchkeeper runs it every 60 s and takes no pings; ping a heartbeat check instead"
    )
    with transaction(db.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Ping)) == 0
        assert service.get("shop", session=session).status is CheckStatus.NEW
