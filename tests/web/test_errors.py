"""One map from the kinds of domain error to the API's answers: a route raises, the app answers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from watchkeeper.errors import Conflict, Forbidden, Invalid, NotFound
from watchkeeper.feeds.ingest import BadBatch, IdempotencyConflict, ServicesRefused, UnsupportedType
from watchkeeper.feeds.service import Exists
from watchkeeper.incidents.lifecycle import InvalidTransition
from watchkeeper.web import errors


def _answer(exc: Exception):
    app = FastAPI()
    errors.install(app)

    @app.get("/raise")
    def raises() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False).get("/raise")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (NotFound("no service named 'x'"), 404),
        (KeyError("no incident 7"), 404),
        (LookupError("no customer 'acme'"), 404),
        (Invalid("give ends_at or duration"), 422),
        (ValueError("title is at most 500 characters"), 422),
        (IdempotencyConflict("the key came back with another body"), 422),
        (Conflict("a service named 'x' exists"), 409),
        (Exists("a service named 'x' exists"), 409),
        (InvalidTransition("cannot acknowledge incident: it is closed"), 409),
        (Forbidden("only staff may"), 403),
        (ServicesRefused("this token posts usage for voip-* only"), 403),
        (BadBatch("body is not valid JSON"), 400),
        (UnsupportedType("Content-Type 'text/xml' is not read here"), 415),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_each_kind_of_error_is_answered_with_its_code_and_its_message(exc, code):
    answer = _answer(exc)
    assert answer.status_code == code
    assert answer.json() == {"detail": exc.args[0]}


def test_an_error_of_no_kind_stays_a_server_error():
    assert _answer(RuntimeError("a bug")).status_code == 500


def test_the_domain_errors_keep_the_kinds_commands_catch():
    assert issubclass(NotFound, LookupError)
    assert all(issubclass(kind, ValueError) for kind in (Invalid, Conflict, Forbidden, InvalidTransition, Exists))
