"""The OpenAPI document says every answer a route can give, with one shape for errors.

FastAPI declares a route's success and its 422 (as a list of validation
errors); the rest of what a route answers comes from what runs around it: the
bearer token (401, 403), the id or name in its path (404), the body limit
(413), a body that is not JSON (400) and the database being away (503), and
our own 422s say what was wrong in one sentence. So the document is completed
here from the routes themselves: each error answer is a `Problem`, whose
`detail` is a sentence saying what to do, or the list of what did not fit.
A router declares the codes only it knows (409 for a state conflict, 415...)
with `responses={409: {"description": ...}}`; they get the same shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class ValidationIssue(BaseModel):
    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(description="where: body, query, path or header, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    detail: str | list[ValidationIssue | str] = Field(
        description="what was wrong and what to do; for a request that does not fit the document, "
        "each thing that did not fit"
    )


WHY = {
    400: "the body cannot be read (not JSON, not the declared format)",
    401: "no valid bearer token",
    403: "the token's role may not do this",
    404: "no such thing, or one this token may not see",
    413: "the body is larger than this route's limit",
    422: "the request does not fit: a field, a value or a parameter is wrong",
    429: "too many bad credentials from this address: retry after Retry-After seconds",
    503: "the database is not available: retry later",
}
BODY_METHODS = {"post", "put", "patch"}


def _codes(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """What runs around a route can answer, read off the document: its token, path and body."""
    codes = {422, 503}
    if operation.get("security"):
        codes |= {401, 403, 429}
    if path.startswith(("/api/v1/intake/", "/v2/enqueue", "/enquiries", "/ping/")):
        codes.add(429)  # a bad integration key, enquiry link or check uuid counts against its address
    if "{" in path:
        codes.add(404)
    if method in BODY_METHODS:
        codes |= {400, 413}
    return codes


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every error answer declared as a Problem (idempotent)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    shape = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            answers = operation.setdefault("responses", {})
            for code in sorted(_codes(path, method, operation)):
                answers.setdefault(str(code), {"description": WHY[code]})
            for code, answer in answers.items():
                if code[0] in "45" and ("content" not in answer or "HTTPValidationError" in str(answer["content"])):
                    answer["content"] = shape
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def declare_errors(app: FastAPI) -> None:
    generate = app.openapi
    app.openapi = lambda: complete(generate())  # type: ignore[method-assign]
