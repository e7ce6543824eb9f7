"""The bearer-token check every API route depends on."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from watchkeeper.auth.models import ApiToken
from watchkeeper.auth.service import verify_token

_bearer = HTTPBearer(auto_error=False, description="a token from `watchkeeper token create`")


def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> ApiToken:
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="a valid bearer token is required: Authorization: Bearer <token> "
        "(create one with `watchkeeper token create --name NAME`)",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized
    session: Session = request.app.state.sessions()
    try:
        record = verify_token(session=session, token=credentials.credentials)
    finally:
        session.close()
    if record is None:
        raise unauthorized
    return record
