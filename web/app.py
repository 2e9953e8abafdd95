"""The web view (``pbr serve``): a FastAPI application over one open ledger.

Pages are rendered on the server (Jinja2) and work without JavaScript; every asset is served
from ``web/static``. Requests are handled one at a time on the event loop: the ledger's
services are synchronous, and one panel's traffic needs no more (docs/web.md decision 11).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ledger.runs import remember_runs
from ledger.store import Ledger
from web.base import BadInput, render, utc_now, viewer
from web.pages import (
    clients,
    compare,
    diagnostics,
    disputes,
    forecast,
    integrity,
    reconciliation,
    runs,
    signin,
)
from web.security import BadForm, Forbidden, NotFound, NotSignedIn, Sessions, SignInLimiter

# One router per section of web.nav.NAV (and sign-in): a new section is one more module here.
ROUTERS = (signin.router, clients.router, runs.router, disputes.router, reconciliation.router,
           diagnostics.router, compare.router, forecast.router, integrity.router)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(ledger: Ledger, *, secret: str | None = None, session_seconds: int = 8 * 3600,
               secure_cookies: bool = False, limiter: SignInLimiter | None = None,
               today: Callable[[], date] = date.today,
               now: Callable[[], datetime] = utc_now) -> FastAPI:
    """The application serving ``ledger``. ``secret`` signs the cookies (default: the
    environment's ``PBR_WEB_SECRET``, else a new random one); ``today`` and ``now`` are the
    clock, for tests."""
    app = FastAPI(title="pbr", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ledger = ledger
    remember_runs(ledger)  # a recorded run never changes: decoded once, not on every page
    app.state.sessions = Sessions(secret or os.environ.get("PBR_WEB_SECRET")
                                  or secrets.token_hex(32), session_seconds)
    app.state.secure_cookies = secure_cookies
    app.state.limiter = limiter or SignInLimiter()
    app.state.today, app.state.now = today, now
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _handlers(app)

    @app.middleware("http")
    async def headers(request: Request, call_next):  # noqa: ANN202
        started = time.perf_counter()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    return app


def _handlers(app: FastAPI) -> None:
    from starlette.exceptions import HTTPException

    @app.exception_handler(NotSignedIn)
    async def sign_in(request: Request, _: NotSignedIn) -> Response:
        return RedirectResponse("/signin", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> HTMLResponse:
        return _error(request, 403, "Not allowed", str(error))

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, error: BadForm) -> HTMLResponse:
        return _error(request, 403, "Form refused", str(error))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, _: NotFound) -> HTMLResponse:
        return _error(request, 404, "Not found", "There is nothing here you may see.")

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, error: BadInput) -> HTMLResponse:
        return _error(request, 400, "Cannot read the form", str(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> HTMLResponse:
        return _error(request, error.status_code, "Not found" if error.status_code == 404
                      else "Refused", str(error.detail))


def _error(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    try:
        who = viewer(request)  # a signed-in user keeps the navigation
    except NotSignedIn:
        who = None
    return render(request, "error.html", who, status, title=title, message=message)
