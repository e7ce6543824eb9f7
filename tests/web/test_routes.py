"""Every route of the API says what it answers, so /docs describes each answer."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from watchkeeper.config import Settings
from watchkeeper.web.app import create_app

APP = create_app(settings=Settings(database_url="sqlite://"))
DOCUMENT = APP.openapi()
# The routes as the app serves them: its own and those of the routers it includes.
ROUTES = [r for r in iter_route_contexts(APP.routes) if isinstance(r.original_route, APIRoute) and r.include_in_schema]


def _label(route) -> str:
    return f"{'/'.join(sorted(route.methods))} {route.path}"


def test_the_walk_finds_the_routers_routes():
    assert {"/api/v1/usage", "/api/v1/incidents/{incident_id}", "/api/v1/cases", "/healthz"} <= {r.path for r in ROUTES}


def _answers(route) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for method in route.methods:
        merged |= DOCUMENT["paths"][route.path_format][method.lower()]["responses"]
    return merged


@pytest.mark.parametrize("route", ROUTES, ids=_label)
def test_every_route_answers_with_a_declared_shape(route):
    answers = _answers(route)
    success = {code: answer for code, answer in answers.items() if code.startswith("2")}
    assert success, f"{_label(route)} declares no success"
    for code, answer in success.items():
        if code == "204":
            assert "content" not in answer
            continue
        (media, content), *_ = answer["content"].items()
        assert content.get("schema"), f"{_label(route)} answers {code} {media} with no schema"
        if media == "application/json":
            # A named model, not what FastAPI makes of a bare `dict` or `list[dict]` annotation.
            assert route.response_model is not None, f"{_label(route)} has no response model"
            assert "#/components/schemas/" in str(content["schema"]), f"{_label(route)} answers an unnamed shape"


@pytest.mark.parametrize("route", ROUTES, ids=_label)
def test_every_error_answer_of_a_route_is_a_problem(route):
    errors = {code: answer for code, answer in _answers(route).items() if code[0] in "45"}
    assert {"422", "503"} <= errors.keys()
    for code, answer in errors.items():
        schemas = str(answer["content"]["application/json"]["schema"])
        assert "#/components/schemas/Problem" in schemas or "PagerDutyInvalid" in schemas, (code, answer)
