"""The FastAPI application: API routers, health and metrics."""

from __future__ import annotations

import json
import logging

from fastapi import Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, OperationalError, StatementError

import watchkeeper
from watchkeeper import metrics
from watchkeeper.alerts.service import RoutingConfig
from watchkeeper.auth.throttle import Throttle
from watchkeeper.clock import Clock, SystemClock
from watchkeeper.config import Settings, get_settings
from watchkeeper.db import make_engine
from watchkeeper.intake.service import KeyCache
from watchkeeper.web import errors, redact
from watchkeeper.web import gauges as desk_gauges
from watchkeeper.web.contract import declare_errors
from watchkeeper.web.deps import staff
from watchkeeper.web.desk import app as desk_pages
from watchkeeper.web.docs import add_docs
from watchkeeper.web.limits import MB, BodyLimitMiddleware, BodyLimits
from watchkeeper.web.routes.alerts import router as alerts_router
from watchkeeper.web.routes.cases import router as cases_router
from watchkeeper.web.routes.checks import pings as pings_router
from watchkeeper.web.routes.checks import router as checks_router
from watchkeeper.web.routes.escalation import links as ack_links_router
from watchkeeper.web.routes.escalation import router as escalation_router
from watchkeeper.web.routes.feeds import router as feeds_router
from watchkeeper.web.routes.incidents import router as incidents_router
from watchkeeper.web.routes.intake import router as intake_router
from watchkeeper.web.routes.oncall import calendars as calendars_router
from watchkeeper.web.routes.oncall import router as oncall_router
from watchkeeper.web.routes.pbx import router as pbx_router
from watchkeeper.web.routes.support import router as support_router
from watchkeeper.web.routes.users import router as users_router
from watchkeeper.web.tokens import require_token
from watchkeeper.wiring import sessionmaker as wired_sessions

log = logging.getLogger(__name__)


class Health(BaseModel):
    status: str = Field(examples=["ok"])


def create_app(
    *, settings: Settings | None = None, clock: Clock | None = None, engine: Engine | None = None
) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url, secret_key=settings.secret_key, key_file=settings.key_file)
    app = FastAPI(
        title="watchkeeper",
        version=watchkeeper.__version__,
        description="Usage-feed monitoring and operations desk for billing and telecom operators. "
        "Every /api route needs `Authorization: Bearer <token>`, except the intake routes, "
        "which take an integration key (`watchkeeper integrations create`).",
        docs_url=None,
        redoc_url=None,
    )
    add_docs(app)
    app.state.settings = settings
    redact.install()
    metrics.serve_metrics()
    app.state.clock = clock or SystemClock()
    app.state.engine = engine
    app.state.sessions = wired_sessions(engine, settings)
    app.state.routing = RoutingConfig.from_settings(settings)
    app.state.intake_keys = KeyCache()
    app.state.throttle = Throttle()
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits(usage=settings.max_usage_body_mb * MB))
    app.include_router(feeds_router, dependencies=[Depends(require_token)])
    app.include_router(alerts_router, dependencies=[Depends(require_token)])
    app.include_router(incidents_router, dependencies=[Depends(require_token)])
    app.include_router(intake_router)
    app.include_router(support_router)
    app.include_router(cases_router, dependencies=[Depends(require_token)])
    app.include_router(users_router, dependencies=[Depends(require_token)])
    app.include_router(checks_router, dependencies=[Depends(require_token)])
    app.include_router(pbx_router, dependencies=[Depends(require_token)])
    app.include_router(ack_links_router)
    app.include_router(pings_router)
    app.include_router(oncall_router, dependencies=[Depends(require_token)])
    app.include_router(escalation_router, dependencies=[Depends(require_token)])
    app.include_router(calendars_router)
    errors.install(app)
    desk_pages.install(app)

    @app.exception_handler(OverflowError)
    @app.exception_handler(UnicodeEncodeError)
    @app.exception_handler(StatementError)
    def out_of_range(request: Request, exc: Exception) -> Response:
        # What a request carried that no column can hold: an id past 2^63 (SQLite:
        # OverflowError; PostgreSQL: DataError), a date past year 9999 after adding
        # a duration, text with a lone surrogate. Any other database error is a 500.
        cause = exc.orig if isinstance(exc, StatementError) else exc
        if (
            isinstance(exc, StatementError)
            and not isinstance(exc, DataError)
            and not isinstance(cause, OverflowError | UnicodeEncodeError)
        ):
            log.error("%s %s failed", request.method, redact.redact(request.url.path), exc_info=exc)
            return JSONResponse({"detail": "internal error; the server's log has it"}, status_code=500)
        reason = (
            "text that is not Unicode (a lone surrogate such as \\ud800)"
            if isinstance(cause, UnicodeEncodeError)
            else "a number too large to store (at most 2^63 - 1)"
            if isinstance(cause, OverflowError)
            else f"a value out of range: {cause}"
        )
        return JSONResponse({"detail": f"the request holds {reason}"}, status_code=422)

    @app.exception_handler(RequestValidationError)
    def invalid(_request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own answer, but in ASCII JSON: the errors quote the input back,
        # and input with a lone surrogate could not be encoded as UTF-8 (a 500).
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True, default=repr)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(OperationalError)
    def database_away(_request: Request, exc: OperationalError) -> JSONResponse:
        # The sender's retry will deliver it once the database is back (Alertmanager
        # and PagerDuty clients retry 5xx), so say 503, not 500.
        return JSONResponse(
            {"detail": f"the database is not available, retry later ({exc.orig})"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability; open, for load balancers."""
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    gauges = desk_gauges.registry(app.state.sessions, app.state.clock)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["ops"], dependencies=[Depends(staff)])
    def metrics_endpoint() -> Response:
        """Prometheus metrics; scrape with a bearer token (`authorization: credentials`)."""
        return Response(generate_latest() + generate_latest(gauges), media_type=CONTENT_TYPE_LATEST)

    declare_errors(app)
    return app
