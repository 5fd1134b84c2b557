"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Engine

from xinyong import __version__
from xinyong.accounts.routes import router as accounts_router
from xinyong.api.problems import install_problem_handlers
from xinyong.audit.routes import router as audit_router
from xinyong.catalog.routes import router as catalog_router
from xinyong.config import Settings, get_settings
from xinyong.db import make_engine, make_session_factory
from xinyong.events.routes import router as webhooks_router
from xinyong.events.tasks import Worker as EventsWorker
from xinyong.identity.crypto import KeyRing, load_keyring
from xinyong.identity.routes import router as subjects_router
from xinyong.ingestion.routes import router as ingestion_router
from xinyong.institutions.routes import router as institutions_router
from xinyong.jobs import daily_jobs, round_jobs
from xinyong.kpi.routes import router as kpi_router
from xinyong.ledger.routes import router as ledger_router
from xinyong.ledger.service import ledger_keys
from xinyong.lists.routes import checks_router
from xinyong.lists.routes import public_router as public_lists_router
from xinyong.lists.routes import router as lists_router
from xinyong.records.routes import router as records_router
from xinyong.reports.routes import reports_router
from xinyong.reports.routes import router as report_routes_router
from xinyong.rights.routes import disputes_router, repair_router
from xinyong.rights.routes import router as rights_router
from xinyong.scoring.routes import router as models_router
from xinyong.scoring.routes import scores_router
from xinyong.web.routes import router as web_router

DESCRIPTION = """
Xinyong (信用) is an open-source credit information platform.

Authenticate with an API key: `Authorization: Bearer xy_…` (or `X-API-Key`); a data subject
uses the portal session token from `POST /v1/portal/sessions` (`Bearer xs_…`). Errors are
RFC 9457 problem details (`application/problem+json`) with a stable `code`.
"""


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, keys: KeyRing | None = None
) -> FastAPI:
    """Build the app; tests pass their own engine and keys, the CLI uses the settings."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The embedded webhook worker (XINYONG_EVENTS_WORKER=embedded): fans out the outbox
        # and delivers webhooks in a background thread while the server runs, and runs the
        # daily jobs (list terms; dispute and repair deadlines, docs/disputes.md).
        worker = None
        if settings.events_worker == "embedded":
            worker = EventsWorker(
                app.state.session_factory,
                app.state.keys,
                interval=settings.events_interval_seconds,
                daily_jobs=daily_jobs(app.state.keys),
                round_jobs=round_jobs(settings),
            )
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="Xinyong credit information platform",
        version=__version__,
        description=DESCRIPTION,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.keys = keys or load_keyring(settings)
    app.state.ledger = ledger_keys(app.state.keys, settings)
    app.state.session_factory = make_session_factory(engine, ledger=app.state.ledger)
    install_problem_handlers(app)

    @app.get("/health", tags=["health"], summary="Liveness and database reachability")
    def health() -> dict[str, Any]:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": engine.dialect.name}

    # Starlette tries routes in order, so the busiest (checks, reports) come first: a
    # request to a router included late pays for matching every route before it.
    for router in (
        checks_router,
        reports_router,
        lists_router,
        report_routes_router,
        institutions_router,
        catalog_router,
        subjects_router,
        records_router,
        ingestion_router,
        audit_router,
        accounts_router,
        rights_router,
        disputes_router,
        repair_router,
        models_router,
        ledger_router,
        scores_router,
        webhooks_router,
        kpi_router,
        public_lists_router,
        # Server-rendered pages (/public, /static): HTML, not in the OpenAPI document.
        web_router,
    ):
        app.include_router(router)
    return app
