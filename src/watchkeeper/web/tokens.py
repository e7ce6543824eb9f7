"""The bearer-token check every API route depends on."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from watchkeeper.auth.models import ApiToken
from watchkeeper.auth.service import verify_token

_bearer = HTTPBearer(auto_error=False, description="a token from `watchkeeper token create`")


def require_token(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> ApiToken:
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="a valid bearer token is required: Authorization: Bearer <token> "
        "(create one with `watchkeeper token create --name NAME`)",
        headers={"WWW-Authenticate": "Bearer"},
    )
    refuse_if_throttled(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        failed_attempt(request)
        raise unauthorized
    session: Session = request.app.state.sessions()
    try:
        record = verify_token(session=session, token=credentials.credentials)
    finally:
        session.close()
    if record is None:
        failed_attempt(request)
        raise unauthorized
    return record


def _address(request: Request) -> str:
    # uvicorn puts the client's own address here, behind a proxy it trusts
    # (--forwarded-allow-ips) the one in X-Forwarded-For.
    return request.client.host if request.client else "unknown"


def throttled_for(request: Request) -> int | None:
    """Seconds the caller's address must wait after too many bad credentials (auth.throttle), or None."""
    state = request.app.state
    return state.throttle.blocked(_address(request), state.clock.now())  # type: ignore[no-any-return]


def refuse_if_throttled(request: Request) -> None:
    wait = throttled_for(request)
    if wait is not None:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, too_many(wait), headers={"Retry-After": str(wait)})


def too_many(wait: int) -> str:
    return f"too many failed attempts from your address; try again in {wait} s"


def failed_attempt(request: Request) -> None:
    """A credential from this caller was wrong: it counts towards the throttle."""
    state = request.app.state
    state.throttle.failed(_address(request), state.clock.now())
