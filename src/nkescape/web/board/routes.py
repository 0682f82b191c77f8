"""The board's web side: its JSON API under ``/board/api`` and its pages under ``/board``.

Every route of the router goes through one gate (``_GatedRoute``) before its own code runs:

- without a live session an API route answers 401 and a page redirects to the login page; only
  the login (page and API) and the static scripts and styles, which hold no board data, are
  public;
- a request that changes something (any method but GET and HEAD) must carry the session's CSRF
  token in the ``X-CSRF-Token`` header, and must not come from another site (its ``Origin`` and
  ``Sec-Fetch-Site`` headers, when the browser sends them), else 403;
- the board's errors become ``{"detail": "<one line>"}``: 404 for a journey that does not exist
  *or* that the user may not see (the same line), 403 for a role that may not do it, 409 for a
  conflict, 422 for bad or refused input, 429 with ``Retry-After`` for a throttled login;
- every answer is ``Cache-Control: no-store``, so that no browser or proxy keeps board data.

Because the gate is the router's route class, a route added later is behind it without a word;
``tests/test_board_web.py`` enumerates the routes to hold that. What a role may do is decided by
the service (``nkescape.board.service.Board``), never here: the endpoints pass the logged-in user
to it. The Content-Security-Policy and the other security headers are the host app's
(``nkescape.web.app``), which includes this router.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import inspect
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from nkescape.board.auth import (
    ABSOLUTE_LIFETIME,
    AUDIT_LOGOUT,
    IDLE_TIMEOUT,
    Authenticator,
    Clock,
    CodeNeededError,
    LoginError,
    LoginThrottle,
    Session,
    SessionStore,
    ThrottledError,
    TotpSteps,
    csrf_ok,
    new_totp_secret,
    totp_uri,
    utc_now,
)
from nkescape.board.errors import (
    AuditError,
    BoardError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RefusedError,
)
from nkescape.board.model import CheckinStatus, JourneyStatus, Role, User, parse_time
from nkescape.board.privacy import NOTE_MAX
from nkescape.routing.query import FUNDING, Group
from nkescape.web.board.models import (
    AssignRequest,
    AuditList,
    AuditVerified,
    CheckinRequest,
    ErrorBody,
    JourneyList,
    JourneyView,
    LoginRequest,
    MetaResponse,
    NewJourneyRequest,
    NewUserRequest,
    NewUserResponse,
    OverdueList,
    ReplanRequest,
    SessionResponse,
    StatusRequest,
)

if TYPE_CHECKING:
    from nkescape.atlas import Atlas
    from nkescape.board.model import Journey
    from nkescape.board.service import Board

__all__ = ["COOKIE", "CSRF_HEADER", "PREFIX", "STATIC_DIR", "BoardWeb", "board_router"]

PREFIX = "/board"
STATIC_DIR = Path(__file__).parent / "static"
# The session cookie. Not a __Host- name: that prefix requires Secure, which a loopback server
# without TLS cannot set, and one name whatever the scheme keeps the code one path.
COOKIE = "nkescape_board"
CSRF_HEADER = "X-CSRF-Token"
# Methods that change nothing (RFC 9110 section 9.2.1): only these pass without a CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PAGE = f"{PREFIX}/login"
HOME_PAGE = f"{PREFIX}/journeys"
# The pages (path under /board -> file in static/): each is a shell that fetches its data from
# the API once it knows it has a session; none holds board data itself.
PAGES = {
    "/journeys": "journeys.html",
    "/new": "new.html",
    "/journey": "journey.html",
    "/overdue": "overdue.html",
    "/audit": "audit.html",
    "/users": "users.html",
}
# Board operations (a request's session check, its endpoint) that run at once; the others wait
# on a lock, which costs nothing, instead of queueing for the interpreter lock and the vault's
# write lock among the server's 40 worker threads. Two, one per core of the 2-core server: one
# request's database wait overlaps another's Python work. benchmarks/board.py at one request a
# second from each of 100 users (p95, a shared and noisy machine): PostgreSQL 8 -> 340 ms,
# 4 -> 257 ms, 2 -> 98-256 ms; SQLite unbounded (40) -> 380-460 ms, 2 -> 94-268 ms.
BOARD_THREADS = 2
_MEDIA = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}

_ERROR: dict[str, Any] = {"model": ErrorBody}
_Responses = dict[int | str, dict[str, Any]]
_NO_SESSION: _Responses = {
    401: {**_ERROR, "description": "No live session: log in at /board/login."}
}
_DENIED: _Responses = {
    403: {**_ERROR, "description": "The role may not do this, or no valid CSRF token was sent."}
}
_BAD: _Responses = {
    422: {**_ERROR, "description": "Bad or refused input: one line naming the field."}
}
_MISSING: _Responses = {
    404: {**_ERROR, "description": "No such journey, or not one this user may see."}
}
_CONFLICT: _Responses = {
    409: {**_ERROR, "description": "It exists already, or the audit chain is broken."}
}
_READ: _Responses = _NO_SESSION | _DENIED | _BAD
_WRITE: _Responses = _NO_SESSION | _DENIED | _BAD | _MISSING | _CONFLICT


class _HttpError(Exception):
    """A refusal by the gate or an endpoint: its status, one line and headers."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _status_of(exc: BaseException) -> int:
    """The HTTP status of a board error (the most specific class first)."""
    for kind, status in (
        (NotFoundError, 404),
        (ForbiddenError, 403),
        (ConflictError, 409),
        (AuditError, 409),
        (RefusedError, 422),
    ):
        if isinstance(exc, kind):
            return status
    return 422


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": _one_line(detail)}, status_code=status, headers=headers)


def _same_site(request: Request) -> bool:
    """Whether a state-changing request comes from this site (when the browser says)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not from a browser's cross-site form or fetch, which always send it
    host = request.headers.get("host", "")
    return origin != "null" and hmac.compare_digest(urlsplit(origin).netloc, host)


@dataclass
class BoardWeb:
    """What the board's endpoints share: the service, its sessions and its login."""

    board: Board
    sessions: SessionStore
    auth: Authenticator
    clock: Clock
    secure_cookies: bool
    # Board operations running at once (BOARD_THREADS unless told).
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(BOARD_THREADS)
    )

    def actor_of(self, session: Session) -> User | None:
        """The session's user as the board knows it now (None: the account is gone)."""
        found = self.board.user(session.user)
        return None if found is None else found[0]

    def user_record(self, name: str) -> tuple[str, Mapping[str, Any]] | None:
        found = self.board.user(name)
        if found is None:
            return None
        user, record = found
        return user.role.value, record

    def places(self) -> list[dict[str, str]]:
        atlas: Atlas = self.board.atlas
        return sorted(
            ({"id": p.id, "name": p.name, "country": p.country} for p in atlas.places.values()),
            key=lambda p: (p["country"], p["name"]),
        )


def _session_json(session: Session, role: str) -> dict[str, Any]:
    return {
        "user": session.user,
        "role": role,
        "csrf": session.csrf,
        "expires": session.expires.isoformat(),
        "ends": session.ends.isoformat(),
    }


def _public(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an endpoint as answering without a session (the login, the static files)."""
    fn._board_public = True  # type: ignore[attr-defined]
    return fn


def _page(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an endpoint as a page: without a session it redirects to the login page."""
    fn._board_page = True  # type: ignore[attr-defined]
    return fn


def _gated_route(web: BoardWeb) -> type[APIRoute]:
    """The route class of the board's router: the session, CSRF and error gate of every route."""
    from nkescape.web.app import validation_detail

    class _GatedRoute(APIRoute):
        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            super().__init__(path, _bounded(endpoint, web.slots), **kwargs)

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            public = getattr(self.endpoint, "_board_public", False)
            page = getattr(self.endpoint, "_board_page", False)

            async def gated(request: Request) -> Response:
                try:
                    if request.method not in SAFE_METHODS and not _same_site(request):
                        raise _HttpError(403, "refused: the request comes from another site")
                    if not public:
                        refusal = await run_in_threadpool(_admit, web, request)
                        if refusal is not None:
                            if page:
                                return RedirectResponse(LOGIN_PAGE, status_code=303)
                            raise refusal
                    response = await handler(request)
                except _HttpError as exc:
                    response = _error(exc.status, exc.detail, exc.headers)
                except RequestValidationError as exc:
                    response = _error(422, validation_detail(list(exc.errors())))
                except StarletteHTTPException as exc:
                    # FastAPI's answer to a body it cannot decode is bad input like any other.
                    status = 422 if exc.status_code == HTTPStatus.BAD_REQUEST else exc.status_code
                    prefix = "body: " if status == 422 else ""
                    response = _error(status, prefix + str(exc.detail), exc.headers)
                except ValueError as exc:  # BoardError and the planner's errors on bad input
                    response = _error(_status_of(exc), str(exc) or type(exc).__name__)
                response.headers["Cache-Control"] = "no-store"
                return response

            return gated

    return _GatedRoute


def _bounded(endpoint: Callable[..., Any], slots: threading.BoundedSemaphore) -> Callable[..., Any]:
    """``endpoint`` (a plain function, run on a worker thread) holding one of ``slots`` while it
    runs; coroutine functions are left as they are."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        with slots:
            return endpoint(*args, **kwargs)

    return bounded


def _admit(web: BoardWeb, request: Request) -> _HttpError | None:
    """Set the request's session and user, or say why not (401, 403 for a bad CSRF token)."""
    with web.slots:
        return _admit_now(web, request)


def _admit_now(web: BoardWeb, request: Request) -> _HttpError | None:
    token = request.cookies.get(COOKIE)
    session = web.sessions.get(token)
    if session is None:
        return _HttpError(401, f"not logged in, or the session ended: log in at {LOGIN_PAGE}")
    actor = web.actor_of(session)
    if actor is None:
        web.sessions.end(token)
        return _HttpError(401, f"the account is gone: log in at {LOGIN_PAGE}")
    if request.method not in SAFE_METHODS and not csrf_ok(
        session, request.headers.get(CSRF_HEADER)
    ):
        return _HttpError(
            403,
            f"refused: no valid {CSRF_HEADER} header (reload the page; it sends the token itself)",
        )
    request.state.board_session = session
    request.state.board_actor = actor
    return None


def _actor(request: Request) -> User:
    actor: User = request.state.board_actor
    return actor


def _session(request: Request) -> Session:
    session: Session = request.state.board_session
    return session


Actor = Annotated[User, Depends(_actor)]
CurrentSession = Annotated[Session, Depends(_session)]


def _static_files() -> dict[str, Path]:
    """The static files the router serves, by name: a fixed list, so no path is ever built
    from the request."""
    if not STATIC_DIR.is_dir():
        return {}
    return {
        p.relative_to(STATIC_DIR).as_posix(): p
        for p in sorted(STATIC_DIR.rglob("*"))
        if p.is_file() and p.suffix in _MEDIA
    }


def board_router(
    board: Board,
    *,
    clock: Clock = utc_now,
    secure_cookies: bool = False,
    throttle: LoginThrottle | None = None,
    idle: dt.timedelta = IDLE_TIMEOUT,
    lifetime: dt.timedelta = ABSOLUTE_LIFETIME,
    threads: int = BOARD_THREADS,
) -> APIRouter:
    """The board's API and pages under ``/board``, for ``app.include_router``.

    Parameters
    ----------
    board
        The open board the endpoints act on (its vault keeps the sessions too).
    clock
        Now, as a timezone-aware UTC datetime (tests move it instead of sleeping).
    secure_cookies
        Mark the session cookie Secure even when the request is plain HTTP: for a server behind
        a TLS proxy that does not pass ``X-Forwarded-Proto``. Over HTTPS it is Secure anyway.
    throttle
        The login throttle (default: ``LoginThrottle()``, the auth module's delays).
    idle, lifetime
        The session's idle timeout and absolute lifetime (default: the auth module's).
    threads
        Board operations that run at once (``BOARD_THREADS``); the other requests wait.
    """
    sessions = SessionStore(board.vault, clock=clock, idle=idle, lifetime=lifetime)
    web = BoardWeb(
        board=board,
        sessions=sessions,
        auth=Authenticator(
            lambda n: web.user_record(n),
            sessions,
            throttle=throttle,
            audit=lambda actor, action, detail: board.vault.audit(actor, action, None, detail),
            # In the vault: a code used once stays used across restarts and server processes.
            steps=TotpSteps(board.vault),
        ),
        clock=clock,
        secure_cookies=secure_cookies,
        slots=threading.BoundedSemaphore(threads),
    )
    router = APIRouter(prefix=PREFIX, route_class=_gated_route(web))
    router.board_web = web  # type: ignore[attr-defined]
    statics = _static_files()

    def journey_view(journey: Journey, now: dt.datetime | None = None) -> dict[str, Any]:
        at = clock() if now is None else now
        return {**journey.to_json(), "overdue": _overdue_of(journey, at)}

    # --- pages and static files ---------------------------------------------------------------

    def page_file(name: str) -> Response:
        path = statics.get(name)
        if path is None:
            return _error(404, f"the page {name} is not in this installation")
        return FileResponse(path, media_type="text/html")

    @router.get("", include_in_schema=False)
    @_page
    def home() -> Response:
        return RedirectResponse(HOME_PAGE, status_code=303)

    @router.get("/login", include_in_schema=False)
    @_public
    def login_page() -> Response:
        return page_file("login.html")

    for path, name in PAGES.items():
        router.add_api_route(
            path,
            _page(functools.partial(page_file, name)),
            methods=["GET"],
            include_in_schema=False,
        )

    @router.get("/static/{name:path}", include_in_schema=False)
    @_public
    def static(name: str) -> Response:
        path = statics.get(name)
        if path is None:
            return _error(404, f"no file {name!r} among the board's static files")
        return FileResponse(path, media_type=_MEDIA[path.suffix])

    # --- login and session --------------------------------------------------------------------

    @router.post(
        "/api/login",
        response_model=SessionResponse,
        responses={
            401: {**_ERROR, "description": "Wrong user name, password or code (one answer)."},
            403: _DENIED[403],
            422: _BAD[422],
            429: {**_ERROR, "description": "Too many failed logins; Retry-After says when."},
        },
        tags=["session"],
    )
    @_public
    def login(req: LoginRequest, request: Request) -> Response:
        """Log in: sets the session cookie (HttpOnly, SameSite=Strict, Secure over TLS) and
        answers the CSRF token the page must send with every change."""
        address = request.client.host if request.client is not None else "unknown"
        try:
            token, session, role = web.auth.login(req.name, req.password, req.totp, address)
        except ThrottledError as exc:
            raise _HttpError(429, str(exc), {"Retry-After": str(exc.retry_after)}) from None
        except CodeNeededError as exc:
            raise _HttpError(401, str(exc), {"X-Board-Second-Factor": "required"}) from None
        except LoginError as exc:
            raise _HttpError(401, str(exc)) from None
        # A session the browser had before is ended: one login, one session (no fixation).
        web.sessions.end(request.cookies.get(COOKIE))
        web.sessions.sweep()
        response = JSONResponse(_session_json(session, role))
        response.set_cookie(
            COOKIE,
            token,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=web.secure_cookies or request.url.scheme == "https",
        )
        return response

    @router.post(
        "/api/logout",
        status_code=204,
        response_class=Response,
        responses=_NO_SESSION | _DENIED,
        tags=["session"],
    )
    def logout(request: Request, session: CurrentSession) -> Response:
        """End the session: its token is deleted on the server and the cookie cleared."""
        web.sessions.end(request.cookies.get(COOKIE))
        board.vault.audit(session.user, AUDIT_LOGOUT)
        answer = Response(status_code=204)
        answer.delete_cookie(
            COOKIE,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=web.secure_cookies or request.url.scheme == "https",
        )
        return answer

    @router.get(
        "/api/session", response_model=SessionResponse, responses=_NO_SESSION, tags=["session"]
    )
    def session_info(actor: Actor, session: CurrentSession) -> JSONResponse:
        """Who is logged in, the CSRF token, and when the session ends."""
        return JSONResponse(_session_json(session, actor.role.value))

    @router.get("/api/meta", response_model=MetaResponse, responses=_NO_SESSION, tags=["session"])
    def meta(actor: Actor) -> JSONResponse:
        """What the forms offer: start places, funding, statuses, roles and limits."""
        return JSONResponse(
            {
                "kind": "board",
                "user": actor.name,
                "role": actor.role.value,
                "places": web.places(),
                "funding": list(FUNDING),
                "checkin_statuses": [s.value for s in CheckinStatus],
                "journey_statuses": [s.value for s in JourneyStatus],
                "roles": [r.value for r in Role],
                "note_max": NOTE_MAX,
                "idle_timeout_s": int(idle.total_seconds()),
                "lifetime_s": int(lifetime.total_seconds()),
            }
        )

    # --- journeys -----------------------------------------------------------------------------

    @router.get("/api/journeys", response_model=JourneyList, responses=_READ, tags=["journeys"])
    def journeys(actor: Actor) -> JSONResponse:
        """The journeys this user may see: all for coordinators and auditors, a partner's own."""
        now = clock()
        return JSONResponse({"journeys": [journey_view(j, now) for j in board.journeys(actor)]})

    @router.post(
        "/api/journeys",
        status_code=201,
        response_model=JourneyView,
        responses=_WRITE,
        tags=["journeys"],
    )
    def new_journey(actor: Actor, req: NewJourneyRequest) -> JSONResponse:
        """A journey from a plan: the planner's itinerary from ``from`` on ``date``, with each
        leg's expected window (p50, p90) from the simulator. Coordinators only."""
        journey = board.new_journey(
            actor,
            start=req.start,
            departure=_date(req.date),
            group=Group.parse(req.group),
            itinerary=req.itinerary,
            funding=req.funding,
            partner=req.partner or None,
            now=clock(),
        )
        return JSONResponse(journey_view(journey), status_code=201)

    @router.get(
        "/api/journeys/{code}",
        response_model=JourneyView,
        responses=_READ | _MISSING,
        tags=["journeys"],
    )
    def journey(actor: Actor, code: str) -> JSONResponse:
        """One journey, its plans, check-ins and its overdue alert if it is late."""
        return JSONResponse(journey_view(board.journey(actor, code)))

    @router.post(
        "/api/journeys/{code}/checkins",
        response_model=JourneyView,
        responses=_WRITE,
        tags=["journeys"],
    )
    def checkin(actor: Actor, code: str, req: CheckinRequest) -> JSONResponse:
        """Report on a leg: ok (its end reached), delayed, waiting, caught or lost."""
        done = board.checkin(
            actor,
            code,
            leg=req.leg,
            status=req.status,
            note=req.note or None,
            at=_time(req.at, clock, "at"),
            spent_usd=req.spent_usd,
        )
        return JSONResponse(journey_view(done))

    @router.post(
        "/api/journeys/{code}/replan",
        response_model=JourneyView,
        responses=_WRITE,
        tags=["journeys"],
    )
    def replan(actor: Actor, code: str, req: ReplanRequest) -> JSONResponse:
        """Plan again from where the group is now; the earlier plans are kept."""
        done = board.replan(
            actor,
            code,
            start=req.start,
            departure=_date(req.date),
            itinerary=req.itinerary,
            now=clock(),
        )
        return JSONResponse(journey_view(done))

    @router.post(
        "/api/journeys/{code}/status",
        response_model=JourneyView,
        responses=_WRITE,
        tags=["journeys"],
    )
    def set_status(actor: Actor, code: str, req: StatusRequest) -> JSONResponse:
        """Set the journey's status (safe, arrived, closed...)."""
        done = board.set_status(actor, code, req.status, at=_time(req.at, clock, "at"))
        return JSONResponse(journey_view(done))

    @router.post(
        "/api/journeys/{code}/assign",
        response_model=JourneyView,
        responses=_WRITE,
        tags=["journeys"],
    )
    def assign(actor: Actor, code: str, req: AssignRequest) -> JSONResponse:
        """Assign the journey to a field partner (or to none)."""
        return JSONResponse(journey_view(board.assign(actor, code, req.partner or None)))

    @router.get("/api/overdue", response_model=OverdueList, responses=_READ, tags=["journeys"])
    def overdue(
        actor: Actor,
        now: Annotated[
            str | None,
            Query(
                description="The time to judge at (ISO 8601); default now.",
                json_schema_extra={"format": "date-time"},
            ),
        ] = None,
    ) -> JSONResponse:
        """Journeys later than their next leg's p90, the most urgent first."""
        at = _time(now, clock, "now")
        return JSONResponse(
            {"now": at.isoformat(), "overdue": [o.to_json() for o in board.overdue(actor, now=at)]}
        )

    # --- audit and users ----------------------------------------------------------------------

    @router.get("/api/audit", response_model=AuditList, responses=_READ, tags=["audit"])
    def audit(actor: Actor) -> JSONResponse:
        """The audit log: who did what, when, to which journey. Coordinators and auditors."""
        return JSONResponse({"rows": [_audit_json(r) for r in board.audit_log(actor)]})

    @router.get(
        "/api/audit/verify",
        response_model=AuditVerified,
        responses=_READ | _CONFLICT,
        tags=["audit"],
    )
    def audit_verify(actor: Actor) -> JSONResponse:
        """Check the audit log's hash chain; 409 names the first bad row."""
        board.audit_log(actor)  # the same rule as reading the log: not for partners
        return JSONResponse({"rows": board.verify_audit()})

    @router.post(
        "/api/users",
        status_code=201,
        response_model=NewUserResponse,
        responses=_READ | _CONFLICT,
        tags=["users"],
    )
    def add_user(actor: Actor, req: NewUserRequest) -> JSONResponse:
        """Add an account (coordinators only); with ``totp`` its secret is shown this once."""
        secret = new_totp_secret() if req.totp else None
        user = board.add_user(actor, req.name, req.role, req.password, totp_secret=secret)
        return JSONResponse(
            {
                **user.to_json(),
                "totp_secret": secret,
                "totp_uri": None if secret is None else totp_uri(secret, user.name),
            },
            status_code=201,
        )

    return router


def _date(text: str) -> dt.date:
    from nkescape.routing.query import parse_date

    return parse_date(text)


def _time(text: str | None, clock: Clock, what: str) -> dt.datetime:
    """The time ``text`` (ISO 8601, UTC unless it has an offset), or now for None."""
    if text is None:
        return clock()
    try:
        return parse_time(text, what=what)
    except OverflowError:  # an offset that moves the year past 9999 or before 1
        raise BoardError(
            f"{what}: {text[:40]!r} is out of range (write an ISO time such as 2017-09-02T14:30)"
        ) from None


def _audit_json(row: Any) -> dict[str, Any]:
    to_json = getattr(row, "to_json", None)
    if callable(to_json):
        data: dict[str, Any] = to_json()
        return data
    at = row.at
    return {
        "seq": row.seq,
        "at": at.isoformat() if isinstance(at, dt.datetime) else str(at),
        "actor": row.actor,
        "action": row.action,
        "journey": row.journey,
        "detail": row.detail,
    }


def _overdue_of(journey: Journey, now: dt.datetime) -> dict[str, Any] | None:
    """The journey's overdue alert at ``now`` as JSON, or None (the service's rule)."""
    from nkescape.board.service import overdue_of

    found = overdue_of(journey, now)
    return None if found is None else found.to_json()
