"""One map from the kinds of domain error to the API's answers.

A route calls a service and lets what it raises go: the kind of error says the
status code, its message is the answer's `detail`, so every route answers a
missing thing, refused input, a state conflict or a refusal alike, and none
repeats the translation. Services that raise the standard LookupError and
ValueError are read as NotFound and Invalid, as the command line reads them.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from watchkeeper.errors import Conflict, Forbidden, Invalid, NotFound, said
from watchkeeper.feeds.ingest import BadBatch, UnsupportedType

# Most specific first is not needed: an error is answered by the entry nearest
# its own class (UnsupportedType is a BadBatch, Conflict a ValueError).
STATUS: dict[type[Exception], int] = {
    NotFound: 404,
    LookupError: 404,
    Invalid: 422,
    ValueError: 422,
    Conflict: 409,
    Forbidden: 403,
    BadBatch: 400,
    UnsupportedType: 415,
}


def answer(_request: Request, exc: Exception) -> Response:
    code = next(STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS)
    return JSONResponse({"detail": said(exc)}, status_code=code)


def install(app: FastAPI) -> None:
    for kind in STATUS:
        app.add_exception_handler(kind, answer)
