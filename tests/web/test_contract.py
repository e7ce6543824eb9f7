"""The OpenAPI document is true: schemathesis, bounded, sends what the document allows (and some
of what it forbids) to every operation, as staff, and finds no 5xx, no undeclared status code and
no answer that breaks its declared schema."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.conftest import NOW, _postgres
from watchkeeper.auth.service import create_token
from watchkeeper.clock import FrozenClock
from watchkeeper.config import Settings
from watchkeeper.db import make_engine, transaction, upgrade
from watchkeeper.web.app import create_app
from watchkeeper.wiring import sessionmaker as wired_sessions


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def desk(request, tmp_path_factory):
    urls = (
        iter([f"sqlite:///{tmp_path_factory.mktemp('contract') / 'wk.db'}"])
        if request.param == "sqlite"
        else _postgres(None)
    )
    url = next(urls)
    engine = make_engine(url)
    upgrade(engine)
    clock = FrozenClock(NOW)
    with transaction(wired_sessions(engine)) as session:
        token = create_token(session=session, clock=clock, name="contract").token
    app = create_app(settings=Settings(database_url=url), clock=clock, engine=engine)
    yield app, token
    engine.dispose()
    next(urls, None)


def _operations() -> list[str]:
    """Every operation of the document, as "METHOD /path" (read without a database)."""
    document = create_app(settings=Settings(database_url="sqlite://")).openapi()
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]


@pytest.fixture(scope="module")
def api_schema(desk):
    return schemathesis.openapi.from_asgi("/openapi.json", desk[0])


@pytest.mark.parametrize("label", _operations())
def test_every_answer_is_one_the_openapi_document_declares(label, api_schema, desk):
    operation = api_schema.find_operation_by_label(label)
    headers = {"Authorization": f"Bearer {desk[1]}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def answers_as_declared(case):
        case.call_and_validate(
            headers=headers, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
        )

    answers_as_declared()


# -- what the runs above found, pinned ------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/files?limit=-1", "/api/v1/files/findings?limit=0", "/api/v1/cases?limit=-1", "/api/v1/cases?limit=1001"],
)
def test_a_limit_out_of_range_is_refused_on_every_database(api, path):
    answer = api.get(path)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize(
    "path", ["/api/v1/incidents/9223372036854775808", "/api/v1/cases/0", "/api/v1/silences/99999999999999999999"]
)
def test_an_id_no_row_can_have_is_refused_naming_the_parameter(api, path):
    answer = api.request("DELETE" if "silences" in path else "GET", path)
    assert answer.status_code == 422
    assert "too large to convert" not in answer.text
    assert answer.json()["detail"][0]["loc"][0] == "path"


@pytest.mark.parametrize(
    "event",
    [
        {
            "routing_key": "\ud800",
            "event_action": "trigger",
            "payload": {"summary": "s", "source": "x", "severity": "info"},
        },
        {"routing_key": "k\u0000", "event_action": "resolve", "dedup_key": "a"},
        {"routing_key": "KEY", "event_action": "resolve", "dedup_key": "trunk\u00007"},
    ],
)
def test_pagerduty_gets_its_own_invalid_event_answer_for_text_no_database_stores(api, db, clock, event):
    from watchkeeper.intake.service import Kind, create

    with transaction(db.sessions) as session:
        key = create(session=session, clock=clock, kind=Kind.PAGERDUTY, name="pd").key
    body = json.dumps(event).replace('"KEY"', json.dumps(key))
    answer = api.post("/v2/enqueue", content=body, headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["status"]) == (400, "invalid event")


def test_every_error_answer_is_declared_as_one_shape(api):
    document = api.get("/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    incidents = document["paths"]["/api/v1/incidents/{incident_id}/acknowledge"]["post"]["responses"]
    assert set(incidents) >= {"200", "401", "403", "404", "409", "422", "503"}
    assert incidents["422"]["content"]["application/json"]["schema"] == problem
    usage = document["paths"]["/api/v1/usage"]["post"]
    assert set(usage["requestBody"]["content"]) == {"application/json", "text/csv"}
    assert set(usage["responses"]) >= {"400", "413", "415"}
    enqueue = document["paths"]["/v2/enqueue"]["post"]["responses"]
    assert enqueue["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PagerDutyInvalid"}
    # A 422 of our own says what was wrong in a sentence; the document allows it.
    answer = api.get("/api/v1/services/x/counts?since=2026-11-23T10:00:00Z&until=2026-11-23T09:00:00Z")
    assert answer.status_code == 422 and isinstance(answer.json()["detail"], str)
