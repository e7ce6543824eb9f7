"""The HTTP API as staff see it: an app on the test's database and clock, with an engineer's token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from watchkeeper.auth.service import create_token
from watchkeeper.db import transaction
from watchkeeper.web.app import create_app


@pytest.fixture
def api(db, clock):
    with transaction(db.sessions) as session:
        token = create_token(session=session, clock=clock, name="test").token
    client = TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))
    client.headers["Authorization"] = f"Bearer {token}"
    return client
