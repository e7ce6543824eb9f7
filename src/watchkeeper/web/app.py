"""The FastAPI application: API routers, health and metrics."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, OperationalError

import watchkeeper
from watchkeeper import metrics
from watchkeeper.alerts.api import router as alerts_router
from watchkeeper.alerts.service import RoutingConfig
from watchkeeper.auth.access import staff
from watchkeeper.auth.api import require_token
from watchkeeper.auth.users_api import router as users_router
from watchkeeper.clock import Clock, SystemClock
from watchkeeper.config import Settings, get_settings
from watchkeeper.db import make_engine, make_sessionmaker
from watchkeeper.feeds.api import router as feeds_router
from watchkeeper.incidents.api import router as incidents_router
from watchkeeper.intake.api import router as intake_router
from watchkeeper.intake.service import KeyCache
from watchkeeper.support.api import router as support_router
from watchkeeper.support.cases_api import router as cases_router


def create_app(
    *, settings: Settings | None = None, clock: Clock | None = None, engine: Engine | None = None
) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    app = FastAPI(
        title="watchkeeper",
        version=watchkeeper.__version__,
        description="Usage-feed monitoring and operations desk for billing and telecom operators. "
        "Every /api route needs `Authorization: Bearer <token>`, except the intake routes, "
        "which take an integration key (`watchkeeper integrations create`).",
    )
    app.state.settings = settings
    metrics.serve_metrics()
    app.state.clock = clock or SystemClock()
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.routing = RoutingConfig.from_settings(settings)
    app.state.intake_keys = KeyCache()
    app.include_router(feeds_router, dependencies=[Depends(require_token)])
    app.include_router(alerts_router, dependencies=[Depends(require_token)])
    app.include_router(incidents_router, dependencies=[Depends(require_token)])
    app.include_router(intake_router)
    app.include_router(support_router)
    app.include_router(cases_router, dependencies=[Depends(require_token)])
    app.include_router(users_router, dependencies=[Depends(require_token)])

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    def out_of_range(_request: Request, exc: Exception) -> JSONResponse:
        # An id past 2^63 (SQLite: OverflowError; PostgreSQL: DataError), a
        # date past year 9999 after adding a duration: the request, not the server.
        reason = str(exc.orig) if isinstance(exc, DataError) else str(exc)
        return JSONResponse({"detail": f"a value in the request is out of range: {reason}".strip()},
                            status_code=422)  # fmt: skip

    @app.exception_handler(OperationalError)
    def database_away(_request: Request, exc: OperationalError) -> JSONResponse:
        # The sender's retry will deliver it once the database is back (Alertmanager
        # and PagerDuty clients retry 5xx), so say 503, not 500.
        return JSONResponse({"detail": f"the database is not available, retry later ({exc.orig})"},
                            status_code=503, headers={"Retry-After": "5"})  # fmt: skip

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability; open, for load balancers."""
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(staff)])
    def metrics_endpoint() -> Response:
        """Prometheus metrics; scrape with a bearer token (`authorization: credentials`)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
