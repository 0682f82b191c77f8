"""The board's router in an app of its own, for tests and benchmarks.

``nkescape serve --board`` includes the router in the dashboard's app instead
(``nkescape.web.app.create_app``); this app has what that one gives the router: the security
headers (the same Content-Security-Policy), the dashboard's stylesheet at ``/static/style.css``
(the board's pages use it), its error style for unknown paths, and the OpenAPI schema, here at
``/board/api/openapi.json``. No interactive docs: they would load Swagger UI from a CDN.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from nkescape.board.auth import ABSOLUTE_LIFETIME, IDLE_TIMEOUT, Clock, LoginThrottle, utc_now
from nkescape.web.board.routes import BOARD_THREADS, board_router

if TYPE_CHECKING:
    from nkescape.board.service import Board

__all__ = ["OPENAPI_URL", "board_app"]

OPENAPI_URL = "/board/api/openapi.json"


def board_app(
    board: Board,
    *,
    clock: Clock = utc_now,
    secure_cookies: bool = False,
    throttle: LoginThrottle | None = None,
    idle: dt.timedelta = IDLE_TIMEOUT,
    lifetime: dt.timedelta = ABSOLUTE_LIFETIME,
    threads: int = BOARD_THREADS,
) -> FastAPI:
    """A FastAPI app serving only the board (``board_router``'s options).

    The router is reachable as ``app.state.board_router``, and its shared state (sessions,
    login throttle) as ``app.state.board_web``.
    """
    from nkescape import __version__
    from nkescape.web.app import STATIC_DIR, _SecurityHeaders, validation_detail

    app = FastAPI(
        title="nkescape board",
        version=__version__,
        summary="Journeys in transit, check-ins and overdue alerts.",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(_SecurityHeaders)
    router = board_router(
        board,
        clock=clock,
        secure_cookies=secure_cookies,
        throttle=throttle,
        idle=idle,
        lifetime=lifetime,
        threads=threads,
    )
    app.include_router(router)
    app.state.board_router = router
    app.state.board_web = router.board_web  # type: ignore[attr-defined]

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers: Any = exc.headers
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
