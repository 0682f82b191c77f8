"""The dashboard API against its own published OpenAPI schema (schemathesis).

Every operation gets requests generated from the schema, valid and invalid; each answer must be
no server error, a status the schema lists, with the content type and body it describes. The
server here allows few journeys per simulation (its schema says so, and the generated requests
keep to it), and has no saved fit (the flows endpoints answer 404, which they document), so
that the whole run stays within seconds; ``test_web_api.py`` checks the fit's answers.
"""

from __future__ import annotations

import time
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

from nkescape.web import create_app

with warnings.catch_warnings():
    # Starlette's test client warns that it will move to httpx2; it works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

# Journeys per simulation on this server: a fuzzed request for the most costs milliseconds
# (adaptive journeys, which plan at every place first, under a second).
MAX_RUNS = 2000
# Generated requests per operation: enough to reach every field's bounds and types through
# schemathesis's coverage phase, few enough to keep the run short on two cores.
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

APP = create_app(flows_dir=Path(__file__).parent / "no-saved-fit", max_jobs=1, max_runs=MAX_RUNS)
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _stop_jobs() -> Iterator[None]:
    """Cancel what the generated requests queued, so that no job outlives the module."""
    yield
    APP.state.server.jobs.close()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_what_the_schema_says(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


def _validate(path: str, method: str, **kwargs: Any) -> Any:
    case = schema[path][method].Case(**kwargs)
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    return response


def test_a_finished_simulation_job_is_what_the_schema_says() -> None:
    body = {"from": "hyesan", "date": "2017-09-01", "runs": MAX_RUNS, "seed": 2}
    started = _validate("/api/simulate", "POST", body=body)
    assert started.status_code == 202
    job_id = started.json()["id"]
    end = time.monotonic() + 30
    while True:
        view = _validate("/api/jobs/{job_id}", "GET", path_parameters={"job_id": job_id})
        if view.json()["state"] != "queued" and view.json()["state"] != "running":
            break
        assert time.monotonic() < end
        time.sleep(0.02)
    assert view.json()["state"] == "done", view.json()["error"]
    gone = _validate("/api/jobs/{job_id}", "DELETE", path_parameters={"job_id": job_id})
    assert gone.json()["state"] == "done"


def test_the_schema_states_the_servers_limit_on_runs() -> None:
    with TestClient(APP) as client:
        published = client.get("/api/openapi.json").json()
    runs = published["components"]["schemas"]["SimulateRequest"]["properties"]["runs"]
    assert runs["maximum"] == MAX_RUNS
