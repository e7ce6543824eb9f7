"""How large a request body may be, per route, enforced before anything reads it.

A body is held in memory whole before it is parsed, and parsing JSON takes the
interpreter for as long as it runs; a body without a bound is a way to fill
the server's memory and to stop it answering anyone else. So every body has a
limit by route, checked twice: a declared `Content-Length` over it is refused
with 413 before a byte is read, and a body sent without one (chunked) is
counted as it arrives and refused once it passes the limit. A route that
reads its body only after checking the sender's key (in its URL or a header)
never receives the body of a sender it does not know.

Limits:
- `/v2/enqueue`: 512 KB, PagerDuty's own cap on an event; its key is in the body.
- `/api/v1/intake/...`: 4 MB, a webhook of thousands of alerts.
- `/api/v1/usage`: `WATCHKEEPER_MAX_USAGE_BODY_MB` (also the cap on a gzip body inflated).
- `/ping/...`: 1 MB, of which a ping keeps the first 100 KB (a job's log tail).
- anything else: 1 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KB = 1 << 10
MB = 1 << 20


def size(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB and limit % MB == 0 else f"{limit // KB} KB"


@dataclass(frozen=True)
class BodyLimits:
    usage: int
    intake: int = 4 * MB
    pagerduty: int = 512 * KB
    ping: int = 1 * MB
    other: int = 1 * MB

    def for_path(self, path: str) -> tuple[int, str]:
        """The limit of a route, and what to do about a body over it."""
        if path == "/api/v1/usage":
            return self.usage, "send smaller batches, or raise WATCHKEEPER_MAX_USAGE_BODY_MB"
        if path == "/v2/enqueue":
            return self.pagerduty, "PagerDuty events are at most 512 KB"
        if path.startswith("/ping/"):
            return self.ping, "a ping keeps the first 100 KB of its body; send the tail of the output"
        if path.startswith("/api/v1/intake/"):
            return self.intake, "send fewer alerts per webhook (Alertmanager: max_alerts)"
        return self.other, "send a smaller body"


class BodyTooLarge(HTTPException):
    """Raised from `receive` (so FastAPI passes it on as it is) once a body passes its limit."""

    def __init__(self, limit: int, advice: str) -> None:
        super().__init__(413, f"the request body is larger than {size(limit)}, the limit of this route: {advice}")


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, advice = self.limits.for_path(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(BodyTooLarge(limit, advice), scope, receive, send)
            return
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, advice)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, watched_send)
        except BodyTooLarge as exc:
            # Read outside a route (FastAPI answers it inside one): answer here if still possible.
            if started:
                raise
            await _refuse(exc, scope, receive, send)


async def _refuse(exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    # The rest of the body is not read: the server drops what still arrives.
    await JSONResponse({"detail": exc.detail}, status_code=413)(scope, receive, send)
