"""The board's API against its own published OpenAPI schema (schemathesis), logged in.

Every operation gets requests generated from the schema, valid and invalid, sent with a fresh
coordinator session and its CSRF token (a coordinator may call every operation, so the requests
reach the service rather than stopping at the role check). Operations on one journey are sent
to a real journey, so that generated check-ins, re-plans and statuses reach its rules; the
missing-journey answers are tested in ``test_board_web.py``. Each answer must be no server
error, a status the schema lists, with the content type and body it describes.

One backend (an SQLCipher file): what is fuzzed here is the web layer and the service's input
checks, which the backend does not change; ``test_board_web.py`` runs both.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nkescape.board.crypto import BoardKey, new_key_file
from nkescape.board.service import Board
from nkescape.web.board import board_app
from nkescape.web.board.app import OPENAPI_URL
from nkescape.web.board.routes import COOKIE, CSRF_HEADER

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow

# Generated requests per operation: enough to reach every field's bounds and types through
# schemathesis's coverage phase; few enough for the run to stay under a minute on two cores
# (a valid new journey plans and simulates its legs, about half a second).
EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PASSWORD = "correct horse battery staple"


def _world(root: Path) -> tuple[Board, Any, str]:
    new_key_file(root / "board.key")
    board = Board.init(str(root / "board.db"), BoardKey.from_key_file(root / "board.key"))
    board.add_user(Board.LOCAL, "coord", "coordinator", PASSWORD)
    board.add_user(Board.LOCAL, "p1", "partner", PASSWORD)
    app = board_app(board)
    with TestClient(app) as http:
        csrf = http.post("/board/api/login", json={"name": "coord", "password": PASSWORD})
        journey = http.post(
            "/board/api/journeys",
            json={"from": "hyesan", "date": "2025-03-01", "group": "2w,1c", "partner": "p1"},
            headers={CSRF_HEADER: csrf.json()["csrf"]},
        )
    assert journey.status_code == 201, journey.text
    return board, app, journey.json()["code"]


_ROOT = Path(__import__("tempfile").mkdtemp(prefix="nkescape-board-schema-"))
BOARD, APP, CODE = _world(_ROOT)
schema = schemathesis.openapi.from_asgi(OPENAPI_URL, APP)


@pytest.fixture(scope="module", autouse=True)
def _close() -> Iterator[None]:
    yield
    BOARD.close()
    import shutil

    shutil.rmtree(_ROOT, ignore_errors=True)


def _auth() -> dict[str, Any]:
    """A fresh coordinator session for one request: cookies and the CSRF header."""
    token, session = APP.state.board_web.sessions.start("coord")
    return {"cookies": {COOKIE: token}, "headers": {CSRF_HEADER: session.csrf}}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_what_the_schema_says(case: Any) -> None:
    if "code" in (case.path_parameters or {}):
        case.path_parameters["code"] = CODE
    case.call_and_validate(checks=CHECKS, **_auth())


def test_the_schema_lists_every_route_but_the_pages() -> None:
    with TestClient(APP) as http:
        paths = http.get(OPENAPI_URL).json()["paths"]
    assert all(p.startswith("/board/api/") for p in paths)
    router_paths = {
        r.path
        for r in APP.state.board_router.routes
        if getattr(r, "include_in_schema", False) and r.path.startswith("/board/api/")
    }
    assert set(paths) == router_paths
