"""The dashboard's HTTP API over the library, and the static page, in one FastAPI app.

Every endpoint takes the command line's inputs under the same names, reads them with the same
library functions and answers with the same JSON (``plan --json``, ``simulate --json``,
``atlas show --json``...). Errors are ``{"detail": "<one line>"}`` in the CLI's words: 422 for
bad input, 404 for an unknown job or a missing fit (saying how to make one), 429 when the job
queue is full; never a traceback. Simulations and scenarios run as jobs off the request thread
(``nkescape.web.jobs``).

The app makes no request of its own and serves nothing from elsewhere: the OpenAPI schema is at
``/api/openapi.json``, and the interactive docs, which would load Swagger UI from a CDN, are off.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nkescape.atlas import Atlas, AtlasError, bundled_atlas, load_atlas, to_geojson
from nkescape.atlas.model import ATLAS_JSON_FORMAT
from nkescape.backends import BACKENDS, DEVICES, resolve
from nkescape.flows.defaults import (
    FIT_FILE,
    FLOWS_OUT,
    LAST_OBSERVED,
    LAST_YEAR,
    POSTERIOR_FILE,
    SCENARIO_KEYS,
    check_scenario,
    convergence_warning,
    parse_scenario_sets,
    scenario_window,
)
from nkescape.routing.query import FUNDING, check_year, parse_avoid, parse_date
from nkescape.web.jobs import JobManager, Progress, QueueFullError
from nkescape.web.models import (
    AtlasDocument,
    ErrorBody,
    FitDocument,
    GeoJson,
    JobAccepted,
    JobView,
    MetaResponse,
    NetworkResponse,
    PlanRequest,
    PlanResponse,
    ScenarioRequest,
    SimulateRequest,
)
from nkescape.web.network import MONTHS, network_on

if TYPE_CHECKING:
    from nkescape.board.service import Board
    from nkescape.flows.calibrate import Posterior
    from nkescape.flows.model import FlowInputs
    from nkescape.flows.parameters import FlowConfig
    from nkescape.routing import Plan
    from nkescape.simulate import Summary

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "KEEP_FINISHED",
    "KEEP_SECONDS",
    "MAX_QUEUED",
    "MAX_RUNS",
    "STATIC_DIR",
    "create_app",
]

STATIC_DIR = Path(__file__).parent / "static"

# The most journeys one simulation job may run on the server. A job holds one of the few worker
# slots until it ends: 10^8 journeys take about 15 s with the numba kernel on two cores (minutes
# with NumPy), and their 95% intervals are already within 0.01 percentage points, finer than the
# page shows; the command line has no such limit.
MAX_RUNS = 100_000_000
# Jobs that may wait for a worker: enough for a few people each queueing a few, few enough that a
# runaway script is told to stop (429) within seconds instead of piling up hours of work.
MAX_QUEUED = 16
# Finished jobs kept for their results: the page fetches a result once, just after it ends, so an
# hour and a few dozen jobs are ample; each holds about 10 kB (regrouped histograms).
KEEP_FINISHED = 64
KEEP_SECONDS = 3600.0
# Flow-model inputs (transit tables, about 6-9 s to build from the atlas) kept per horizon and
# seed, so that a second scenario with the same seed starts at once; each holds about 0.1 MB.
_INPUTS_CACHE = 8
# Dates whose network is kept encoded (about 70 kB each, 20 ms to build): the page's month slider
# goes back and forth over a year or two of months.
NETWORK_CACHE = 48
_PROG = "nkescape"

_ERROR = {"model": ErrorBody}
_BAD_INPUT: dict[int | str, dict[str, Any]] = {
    422: {**_ERROR, "description": "Bad input: one line naming the field, as the CLI says it."}
}
_NO_FIT: dict[int | str, dict[str, Any]] = {
    404: {**_ERROR, "description": "No saved fit: the line says how to make one."}
}
_NO_JOB: dict[int | str, dict[str, Any]] = {
    404: {**_ERROR, "description": "No such job (or no longer kept)."},
    422: _BAD_INPUT[422],
}
_QUEUED: dict[int | str, dict[str, Any]] = {
    429: {**_ERROR, "description": "The job queue is full."}
}


# What the browser may load for the page: only what this server serves. Nothing else can be
# fetched, framed or run even if a script tried (the page ships everything it uses); images may
# also be data: URLs, and style is set through the CSS object model only (no inline styles).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class _SecurityHeaders:
    """ASGI middleware adding ``_HEADERS`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class ApiError(Exception):
    """An answer other than 200: its status and one line."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = _one_line(detail)


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


@contextmanager
def _library_errors(prefix: str = "") -> Iterator[None]:
    """The library's errors on bad input (all ``ValueError``) as 422, in their own words."""
    try:
        yield
    except ValueError as exc:
        raise ApiError(422, prefix + (str(exc) or type(exc).__name__)) from None


def _fit_command(flows_dir: Path) -> str:
    """The command that writes a fit where this server reads it."""
    where = "" if flows_dir == FLOWS_OUT else f" --out {flows_dir}"
    return f"`{_PROG} flows fit{where}`"


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has no numbers for them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class _GeoJsonResponse(JSONResponse):
    media_type = "application/geo+json"


def _json_bytes(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def data_date(atlas: Atlas) -> dt.date:
    """The newest date in the atlas: its events' dates and its sources' years (1 January)."""
    days = [e.date for e in atlas.events.values()]
    days += [dt.date(s.year, 1, 1) for s in atlas.sources.values() if s.year is not None]
    return max(days, default=dt.date(1900, 1, 1))


def simulation_result(atlas: Atlas, summary: Summary) -> dict[str, Any]:
    """A finished simulation for the page: ``simulate --json``'s summary, the funnel in journey
    order, and the days and cost histograms regrouped for charts."""
    from nkescape.simulate import OUTCOMES

    data = summary.to_json()
    runs = max(summary.runs, 1)
    funnel = [
        {
            "leg": str(row["leg"]),
            "label": atlas.legs[str(row["leg"])].name,
            "count": int(row["entered"]),
            "share": int(row["entered"]) / runs,
            "ended": {k: int(row[k]) for k in OUTCOMES if k in row},
        }
        for row in data["funnel"]
    ]
    from nkescape.simulate.summary import regroup

    safety, day_edges = summary.histogram("safety")
    destination, _ = summary.histogram("destination")
    edges, (safe_counts, dest_counts) = regroup([safety, destination], day_edges)
    cost, cost_edges = summary.histogram("cost")
    c_edges, (c_counts,) = regroup([cost], cost_edges)
    return {
        "summary": data,
        "funnel": funnel,
        "days": {
            "edges": edges.tolist(),
            "counts": safe_counts.tolist(),
            "destination_counts": dest_counts.tolist(),
            "runs": summary.runs,
        },
        "cost": {"edges": c_edges.tolist(), "counts": c_counts.tolist()},
    }


@dataclass
class _Server:
    """What the endpoints share: the atlas, the flows folder, the jobs and a few caches."""

    atlas: Atlas
    overlays: list[Path]
    flows_dir: Path
    jobs: JobManager
    max_runs: int
    atlas_json: bytes = b""
    atlas_geojson: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _config: FlowConfig | None = None
    _posterior: tuple[tuple[int, int], Posterior] | None = None
    _calibrated: tuple[tuple[int, int], Atlas] | None = None
    _inputs: OrderedDict[tuple[int, int], FlowInputs] = field(default_factory=OrderedDict)
    _inputs_locks: dict[tuple[int, int], threading.Lock] = field(default_factory=dict)

    @property
    def posterior_path(self) -> Path:
        return self.flows_dir / POSTERIOR_FILE

    def config(self) -> FlowConfig:
        from nkescape.flows.parameters import load_config

        with self.lock:
            if self._config is None:
                with _library_errors():
                    self._config = load_config(self.atlas)
            return self._config

    def posterior(self) -> Posterior:
        """The saved posterior (read again when the file changes), or 404 saying how to make it."""
        from nkescape.flows.calibrate import load_posterior

        path = self.posterior_path
        try:
            stat = path.stat()
        except OSError:
            raise ApiError(
                404, f"no posterior at {path}: run {_fit_command(self.flows_dir)} first"
            ) from None
        key = (stat.st_mtime_ns, stat.st_size)
        names = self.config().names
        with self.lock:
            if self._posterior is not None and self._posterior[0] == key:
                return self._posterior[1]
        try:
            posterior = load_posterior(path, names)
        except ValueError as exc:
            raise ApiError(404, str(exc)) from None
        with self.lock:
            self._posterior = (key, posterior)
        return posterior

    def calibrated_atlas(self) -> Atlas:
        """The atlas with China's hiding risk calibrated to the saved posterior (as
        ``--parameters``), made once per posterior file."""
        from nkescape.flows.calibrated import calibrated_atlas

        posterior = self.posterior()
        with self.lock:
            key = self._posterior[0] if self._posterior is not None else (0, 0)
            if self._calibrated is not None and self._calibrated[0] == key:
                return self._calibrated[1]
        try:
            atlas = calibrated_atlas(self.atlas, posterior)
        except AtlasError as exc:
            raise ApiError(
                404, f"the flow parameters file has problems: {exc.problems[0]}"
            ) from None
        with self.lock:
            self._calibrated = (key, atlas)
        return atlas

    def flow_inputs(self, end_year: int, seed: int) -> FlowInputs:
        """The flow model's inputs to December ``end_year`` for ``seed``, as the CLI's scenario
        builds them, kept for the next scenario with the same horizon and seed."""
        # Read through the module when called, as the CLI's scenario command imports it.
        from nkescape.flows import analysis

        key = (end_year, seed)
        with self.lock:
            if key in self._inputs:
                self._inputs.move_to_end(key)
                return self._inputs[key]
            building = self._inputs_locks.setdefault(key, threading.Lock())
        with building:  # one build per key, even when two jobs ask at once
            with self.lock:
                if key in self._inputs:
                    return self._inputs[key]
            _, inputs, _ = analysis.prepare(self.atlas, end_year, seed=seed)
            with self.lock:
                self._inputs[key] = inputs
                while len(self._inputs) > _INPUTS_CACHE:
                    self._inputs.popitem(last=False)
                self._inputs_locks.pop(key, None)
            return inputs

    def plan(self, req: PlanRequest) -> tuple[Atlas, Plan]:
        """The plan ``nkescape plan`` makes for the same options, and the atlas it used."""
        from nkescape.routing import plan

        atlas = self.calibrated_atlas() if req.calibrated else self.atlas
        date = None
        if req.date is not None:
            with _library_errors("date: "):
                date = parse_date(req.date)
        avoid = req.avoid if isinstance(req.avoid, str) else ",".join(req.avoid)
        with _library_errors():
            result = plan(
                atlas,
                req.origin,
                req.destination,
                month=req.month,
                date=date,
                group=req.group,
                budget=req.budget,
                profile=req.profile,
                funding=req.funding,
                avoid=parse_avoid(avoid),
                max_days=req.max_days,
            )
        return atlas, result


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:] if not isinstance(p, int)] if len(loc) > 1 else []
    return parts[0] if parts else str(loc[0]) if loc else "input"


def _message(error: dict[str, Any]) -> str:
    """One validation error in the CLI's words (Typer's checks are pydantic's, too)."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in ("literal_error", "enum") and "expected" in ctx:
        # Click's words for a choice not offered: 'x' is not one of 'a', 'b', 'c'.
        choices = str(ctx["expected"]).replace(" or ", ", ")
        return f"{error.get('input')!r} is not one of {choices}."
    return str(error.get("msg", "invalid"))


def validation_detail(errors: list[dict[str, Any]]) -> str:
    """Pydantic's errors as one line, ``field: what is wrong`` each, one per field."""
    by_field: dict[str, list[str]] = {}
    for error in errors:
        name = _field(tuple(error.get("loc", ())))
        message = _message(error)
        seen = by_field.setdefault(name, [])
        if message not in seen:
            seen.append(message)
    return "; ".join(f"{name}: {_either(msgs)}" for name, msgs in by_field.items())


def _either(messages: list[str]) -> str:
    """Errors of a field that may take several types, as one: ``Input should be a or b``."""
    lead = "Input should be "
    if len(messages) > 1 and all(m.startswith(lead) for m in messages):
        return lead + " or ".join(m.removeprefix(lead) for m in messages)
    return " or ".join(messages)


def _overlays(overlay: Path | Sequence[Path] | None) -> list[Path]:
    if overlay is None:
        return []
    return [overlay] if isinstance(overlay, Path) else list(overlay)


def _load(overlays: list[Path]) -> Atlas:
    # The bundled atlas is loaded once per process and shared (atlases are immutable).
    return load_atlas(overlays=overlays) if overlays else bundled_atlas()


def create_app(
    overlay: Path | Sequence[Path] | None = None,
    flows_dir: Path | None = None,
    max_jobs: int = 2,
    *,
    max_runs: int = MAX_RUNS,
    board: Board | None = None,
    secure_cookies: bool = False,
) -> FastAPI:
    """The dashboard: the API under ``/api`` and the page at ``/``; the board under ``/board``.

    Parameters
    ----------
    overlay
        A private atlas directory layered over the bundled atlas, or several, in order (as
        ``--overlay`` given more than once).
    flows_dir
        Where ``flows fit`` wrote ``posterior.json`` and ``fit.json`` (default ``out/flows``).
    max_jobs
        Simulations and scenarios that run at once; others wait in a queue.
    max_runs
        The most journeys one simulation job may run (``MAX_RUNS``; lower it to bound a test).
    board
        An open coordination board, served under ``/board`` behind its own login
        (``nkescape.web.board``); without it nothing answers there.
    secure_cookies
        Mark the board's session cookie Secure even over plain HTTP: for a server behind a TLS
        proxy that does not say so (``X-Forwarded-Proto``).

    Raises
    ------
    AtlasError
        When the atlas (with the overlay) has problems, listing them, before anything is served.
    """
    from nkescape import __version__

    overlays = _overlays(overlay)
    atlas = _load(overlays)
    server = _Server(
        atlas=atlas,
        overlays=overlays,
        flows_dir=flows_dir if flows_dir is not None else FLOWS_OUT,
        jobs=JobManager(
            max_jobs, max_queued=MAX_QUEUED, keep=KEEP_FINISHED, keep_seconds=KEEP_SECONDS
        ),
        max_runs=max_runs,
        atlas_json=_json_bytes({"format": ATLAS_JSON_FORMAT, **atlas.to_json()}),
        atlas_geojson=_json_bytes(to_geojson(atlas)),
    )
    newest = data_date(atlas).isoformat()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        server.jobs.close()

    app = FastAPI(
        title="nkescape",
        version=__version__,
        summary="The escape network North Korean refugees use: routes, risks, costs and flows.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(_SecurityHeaders)
    app.state.server = server
    # What `serve` reports at start (the atlas's load warnings), without the private server.
    app.state.atlas = atlas

    def openapi() -> dict[str, Any]:
        # The schema states this server's limit on runs, so that clients (and the schema's
        # fuzz test) know it without asking /api/meta.
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            runs = schema["components"]["schemas"]["SimulateRequest"]["properties"]["runs"]
            runs["maximum"] = server.max_runs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == HTTPStatus.BAD_REQUEST:
            # FastAPI's answer to a body it cannot decode: bad input, like any other (422).
            return JSONResponse({"detail": f"body: {_one_line(str(exc.detail))}"}, 422)
        return JSONResponse(
            {"detail": _one_line(str(exc.detail))}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (please "
                "report it)"
            },
            status_code=500,
        )

    # --- the page -----------------------------------------------------------------------------

    @app.get("/", include_in_schema=False, response_model=None)
    def index() -> Response:
        page = STATIC_DIR / "index.html"
        if not page.is_file():
            return JSONResponse(
                {
                    "detail": f"the page is not in this installation ({page} is missing); the API "
                    "is under /api (schema: /api/openapi.json)"
                },
                status_code=404,
            )
        return FileResponse(page, media_type="text/html")

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # --- reference data -----------------------------------------------------------------------

    @app.get("/api/meta", response_model=MetaResponse, tags=["atlas"])
    def meta() -> JSONResponse:
        """The server, its data and its limits: what the page states and needs for its forms."""
        flows = (server.flows_dir / POSTERIOR_FILE).is_file() and (
            server.flows_dir / FIT_FILE
        ).is_file()
        start_year = server.config().start_year
        return JSONResponse(
            {
                "name": "nkescape",
                "version": __version__,
                "data_date": newest,
                "atlas": atlas.counts(),
                "atlas_warnings": list(atlas.warnings),
                "overlay": bool(overlays),
                "flows": flows,
                "max_runs": server.max_runs,
                "max_jobs": server.jobs.workers,
                "months": list(MONTHS),
                "funding": list(FUNDING),
                "backends": list(BACKENDS),
                "devices": list(DEVICES),
                "scenario_keys": dict(SCENARIO_KEYS),
                "scenario_months": {"from": f"{start_year}-01", "to": f"{LAST_YEAR}-12"},
            }
        )

    @app.get("/api/atlas", response_model=AtlasDocument, tags=["atlas"])
    def atlas_json() -> Response:
        """The atlas, as ``nkescape atlas show --json`` prints it."""
        return Response(server.atlas_json, media_type="application/json")

    @app.get(
        "/api/atlas.geojson",
        response_model=GeoJson,
        response_class=_GeoJsonResponse,
        tags=["atlas"],
    )
    def atlas_geojson() -> Response:
        """Places and legs for a map, as ``nkescape atlas export --format geojson`` writes."""
        return Response(server.atlas_geojson, media_type=_GeoJsonResponse.media_type)

    @functools.lru_cache(maxsize=NETWORK_CACHE)
    def network_json(day: dt.date) -> bytes:
        return _json_bytes(network_on(server.atlas, day))

    @app.get("/api/network", response_model=NetworkResponse, responses=_BAD_INPUT, tags=["atlas"])
    def network(
        date: Annotated[
            str | None,
            Query(description="YYYY-MM-DD (default today).", json_schema_extra={"format": "date"}),
        ] = None,
        month: Annotated[int | None, Query(ge=1, le=12, description="1-12, with year.")] = None,
        year: Annotated[int | None, Query(description="With month (default this year).")] = None,
    ) -> Response:
        """Every leg on a date (in use or why not, p(caught), days, cost, season, sources), the
        places and the events in force, for the map."""
        if date is not None and (month is not None or year is not None):
            raise ApiError(422, "give a date, or a month and year, not both")
        today = dt.date.today()
        if date is not None:
            with _library_errors("date: "):
                day = parse_date(date)
        else:
            y = year if year is not None else today.year
            with _library_errors():
                check_year(y, f"year: {y}")
            day = dt.date(y, month if month is not None else today.month, 1)
        with _library_errors():
            return Response(network_json(day), media_type="application/json")

    # --- planning and simulation --------------------------------------------------------------

    @app.post(
        "/api/plan", response_model=PlanResponse, responses=_BAD_INPUT | _NO_FIT, tags=["plan"]
    )
    def plan_endpoint(req: PlanRequest) -> JSONResponse:
        """What ``nkescape plan --json`` prints for the same options, with the itineraries as
        GeoJSON (``geojson``)."""
        used, result = server.plan(req)
        return JSONResponse({**result.to_json(), "geojson": result.to_geojson(used)})

    @app.post(
        "/api/simulate",
        status_code=202,
        response_model=JobAccepted,
        responses=_BAD_INPUT | _NO_FIT | _QUEUED,
        tags=["plan"],
    )
    def simulate_endpoint(req: SimulateRequest) -> JSONResponse:
        """Start simulating one itinerary of the plan (or adaptive journeys): a job whose result
        is what ``nkescape simulate --json`` prints, with the funnel and the histograms."""
        if req.runs > server.max_runs:
            raise ApiError(
                422,
                f"runs: at most {server.max_runs:,} journeys per simulation on this server "
                f"(max_runs in /api/meta; got {req.runs:,}); the command line takes more",
            )
        used, result = server.plan(req)
        count = len(result.itineraries)
        if not 1 <= req.itinerary <= count:
            raise ApiError(422, f"itinerary: choose 1-{count} (the plan has that many)")
        backend, device = str(req.backend.value), str(req.device.value)
        if not req.adaptive:
            # Refused here, before a job starts: a kernel or device this server cannot run.
            with _library_errors():
                resolve(backend, device)
        elif (backend, device) not in (("auto", "cpu"), ("numpy", "cpu")):
            raise ApiError(422, "adaptive: re-planning journeys run the NumPy kernel on the CPU")

        def run(progress: Progress) -> dict[str, Any]:
            from nkescape.simulate import simulate, simulate_adaptive

            progress.stage("simulating journeys")
            if req.adaptive:
                summary = simulate_adaptive(
                    used,
                    query=result.query,
                    runs=req.runs,
                    seed=req.seed,
                    progress=progress.advance,
                )
            else:
                summary = simulate(
                    used,
                    result,
                    req.itinerary,
                    runs=req.runs,
                    seed=req.seed,
                    backend=backend,
                    device=device,
                    progress=progress.advance,
                )
            return simulation_result(used, summary)

        return _submit("simulate", req.runs, run)

    # --- flows --------------------------------------------------------------------------------

    @app.get("/api/flows", response_model=FitDocument, responses=_NO_FIT, tags=["flows"])
    def flows() -> JSONResponse:
        """The saved fit: ``flows_dir/fit.json`` as ``flows fit`` writes it."""
        path = server.flows_dir / FIT_FILE
        fix = _fit_command(server.flows_dir)
        if not path.is_file():
            raise ApiError(404, f"no saved fit at {path}: run {fix} first")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ApiError(
                404, f"{path}: cannot read the saved fit ({exc}); run {fix} again"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("years"), list):
            raise ApiError(404, f"{path}: not a saved fit; run {fix} again")
        meta = data.get("meta")
        data["convergence_warning"] = convergence_warning(meta if isinstance(meta, dict) else {})
        return JSONResponse(_finite(data))

    @app.post(
        "/api/flows/scenario",
        status_code=202,
        response_model=JobAccepted,
        responses=_BAD_INPUT | _NO_FIT | _QUEUED,
        tags=["flows"],
    )
    def scenario_endpoint(req: ScenarioRequest) -> JSONResponse:
        """Start a what-if projection against the baseline: a job whose result is what
        ``nkescape flows scenario --json`` prints."""
        from nkescape.flows.analysis import run_scenario

        with _library_errors():
            if isinstance(req.set, dict):
                values = dict(req.set)
                check_scenario(values)
            else:
                values = parse_scenario_sets(req.set)
        config = server.config()
        with _library_errors():
            when, end_year = scenario_window(req.start, req.years, config.start_year)
        posterior = server.posterior()
        horizon = max(end_year, LAST_OBSERVED)

        def run(progress: Progress) -> dict[str, Any]:
            progress.stage("reading the atlas into monthly transit tables")
            inputs = server.flow_inputs(horizon, req.seed)
            progress.advance(1)
            progress.stage("projecting the scenario and the baseline")
            report = run_scenario(
                inputs, posterior, values, when, req.years, seed=req.seed, scheduler="sync"
            )
            progress.advance(1)
            return dict(_finite(report.to_json()))

        return _submit("scenario", 2, run)

    # --- jobs ---------------------------------------------------------------------------------

    def _submit(kind: Any, total: int, run: Callable[[Progress], dict[str, Any]]) -> JSONResponse:
        try:
            view = server.jobs.submit(kind, total, run)
        except QueueFullError as exc:
            raise ApiError(429, str(exc)) from None
        return JSONResponse({"id": view["id"], "state": view["state"]}, status_code=202)

    def _unknown(job_id: str) -> ApiError:
        return ApiError(
            404,
            f"no job {job_id!r} (finished jobs are kept {KEEP_SECONDS / 60:.0f} minutes, the "
            f"last {KEEP_FINISHED} of them)",
        )

    @app.get("/api/jobs/{job_id}", response_model=JobView, responses=_NO_JOB, tags=["jobs"])
    def job(job_id: str) -> JSONResponse:
        """A job's state and progress, and its result once done (its error if it failed)."""
        view = server.jobs.get(job_id)
        if view is None:
            raise _unknown(job_id)
        return JSONResponse(view)

    @app.delete("/api/jobs/{job_id}", response_model=JobAccepted, responses=_NO_JOB, tags=["jobs"])
    def cancel(job_id: str) -> JSONResponse:
        """Cancel a job; one already finished keeps its state."""
        view = server.jobs.cancel(job_id)
        if view is None:
            raise _unknown(job_id)
        return JSONResponse({"id": view["id"], "state": view["state"]})

    if board is not None:
        # Imported only for a board: the dashboard alone loads neither SQLAlchemy nor SQLCipher.
        from nkescape.web.board import board_router

        app.include_router(board_router(board, secure_cookies=secure_cookies))
    return app
