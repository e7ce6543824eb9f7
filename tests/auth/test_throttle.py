"""Guessing credentials: an address that sends too many bad ones is refused for a while, over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from watchkeeper.auth.service import create_token
from watchkeeper.auth.throttle import MAX_FAILURES, WINDOW
from watchkeeper.clock import FrozenClock
from watchkeeper.db import transaction
from watchkeeper.web.app import create_app

from ..conftest import NOW

GUESSER, NEIGHBOUR = ("203.0.113.7", 40000), ("198.51.100.2", 40000)


@pytest.fixture
def app(db):
    clock = FrozenClock(NOW)
    with transaction(db.sessions) as session:
        token = create_token(session=session, clock=clock, name="anna").token
    app = create_app(settings=db.settings, clock=clock, engine=db.engine)
    app.state.good_token = token
    return app


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_bad_tokens_past_the_limit_get_429_with_retry_after_until_the_window_passes(app):
    guesser, neighbour = TestClient(app, client=GUESSER), TestClient(app, client=NEIGHBOUR)
    answers = [
        guesser.get("/api/v1/services", headers=_bearer(f"wk_guess{i}")).status_code for i in range(MAX_FAILURES)
    ]
    assert answers == [401] * MAX_FAILURES
    refused = guesser.get("/api/v1/services", headers=_bearer("wk_one-more"))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == str(int(WINDOW.total_seconds()))
    assert "too many failed attempts" in refused.json()["detail"]
    # Even a right token waits: an answer that told right from wrong would let the guessing go on.
    assert guesser.get("/api/v1/services", headers=_bearer(app.state.good_token)).status_code == 429
    assert neighbour.get("/api/v1/services", headers=_bearer(app.state.good_token)).status_code == 200
    app.state.clock.set(NOW + WINDOW - timedelta(seconds=10))
    assert guesser.get("/api/v1/services", headers=_bearer("wk_x")).headers["Retry-After"] == "10"
    app.state.clock.set(NOW + WINDOW)
    assert guesser.get("/api/v1/services", headers=_bearer(app.state.good_token)).status_code == 200


def test_good_tokens_are_never_throttled(app):
    client = TestClient(app, client=GUESSER)
    answers = {client.get("/api/v1/services", headers=_bearer(app.state.good_token)).status_code for _ in range(60)}
    assert answers == {200}


@pytest.mark.parametrize(
    "send",
    [
        lambda c, i: c.post(f"/api/v1/intake/alertmanager/{i:032x}", json={}),
        lambda c, i: c.post(f"/api/v1/intake/generic/{i:032x}", json={}),
        lambda c, i: c.post(
            "/v2/enqueue",
            json={
                "routing_key": f"{i:032x}",
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "x", "severity": "error"},
            },
        ),
    ],
)
def test_guessed_integration_keys_get_429(app, send):
    client = TestClient(app, client=GUESSER)
    assert {send(client, i).status_code for i in range(MAX_FAILURES)} <= {400, 404}
    refused = send(client, 99)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_guessed_enquiry_links_get_a_page_saying_to_wait(app):
    client = TestClient(app, client=GUESSER)
    for i in range(MAX_FAILURES):
        assert client.get(f"/enquiries/answer?token=MTo{i}.bad").status_code == 404
    page = client.post("/enquiries/answer", data={"token": "MTo.bad"})
    assert page.status_code == 429 and "try again in 60 seconds" in page.text and page.headers["Retry-After"] == "60"
