"""The dashboard's HTTP API: every endpoint, bad input on each, jobs, and the CLI's numbers.

The API must give what the command line gives for the same inputs, so each result is compared
with the CLI's own JSON, run in this process (``CliRunner``) on the same atlas; errors are
compared with the CLI's one line. The saved fit the flows endpoints read is a real posterior
file and fit report written by the library, from prior draws rather than MCMC (a fit takes
minutes; what the API does with the file does not depend on how its draws were made).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():
    # Starlette's test client warns that it will move to httpx2; it works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

import nkescape.atlas
import nkescape.flows.analysis
from nkescape.atlas import bundled_atlas
from nkescape.cli import app as cli
from nkescape.flows.calibrate import Posterior
from nkescape.flows.defaults import TRANSIT_RUNS
from nkescape.flows.parameters import load_config
from nkescape.simulate.summary import CHART_BARS, regroup
from nkescape.web import app as web_app
from nkescape.web import create_app
from nkescape.web.jobs import JobCancelledError, JobManager, Progress, QueueFullError

ATLAS = bundled_atlas()
runner = CliRunner()
DONE = ("done", "failed", "cancelled")


@pytest.fixture(scope="module")
def shared_inputs() -> Iterator[None]:
    """The CLI and the API in this process share one atlas and one build of the flow model's
    inputs per (horizon, seed): loading the atlas takes 0.7 s and the transit tables 6 s, and
    both are deterministic, so building them once changes no number compared."""
    real_load = nkescape.atlas.load_atlas
    real_prepare = nkescape.flows.analysis.prepare
    built: dict[tuple[Any, ...], Any] = {}

    def load_atlas(*layers: Any, overlays: Any = ()) -> Any:
        if not layers and not list(overlays):
            return ATLAS
        return real_load(*layers, overlays=overlays)

    def prepare(
        atlas: Any, end_year: int, *, seed: int = 0, transit_runs: int = TRANSIT_RUNS
    ) -> Any:
        key = (id(atlas), end_year, seed, transit_runs)
        if key not in built:
            built[key] = real_prepare(atlas, end_year, seed=seed, transit_runs=transit_runs)
        return built[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nkescape.atlas, "load_atlas", load_atlas)
        mp.setattr(nkescape.flows.analysis, "prepare", prepare)
        yield


@pytest.fixture(scope="module")
def flows_dir(tmp_path_factory: pytest.TempPathFactory, shared_inputs: None) -> Path:
    """A saved fit as `flows fit` leaves it: posterior.json and fit.json, from prior draws."""
    from nkescape.flows.analysis import prepare, report_fit

    config = load_config(ATLAS)
    rng = np.random.default_rng(7)
    draws = np.column_stack([p.to_x(p.sample(rng, 40)) for p in config.priors])
    posterior = Posterior(config.names, draws, tuple(range(2000, 2020)), {"seed": 7, "chains": 1})
    _, inputs, observed = prepare(ATLAS, 2025, seed=1)
    report = report_fit(inputs, observed, posterior, draws=20, seed=1)
    folder = tmp_path_factory.mktemp("flows")
    posterior.save(folder / "posterior.json")
    (folder / "fit.json").write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def client(flows_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(flows_dir=flows_dir)) as c:
        yield c


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory, shared_inputs: None) -> Iterator[TestClient]:
    """A server with no saved fit."""
    with TestClient(create_app(flows_dir=tmp_path_factory.mktemp("empty"))) as c:
        yield c


def wait(
    client: TestClient,
    job_id: str,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Poll a job until ``until`` (default: it has ended) holds."""
    until = until or (lambda v: v["state"] in DONE)
    end = time.monotonic() + timeout
    while True:
        view = client.get(f"/api/jobs/{job_id}")
        assert view.status_code == 200, view.text
        data: dict[str, Any] = view.json()
        if until(data):
            return data
        assert time.monotonic() < end, f"job {job_id} still {data['state']}: {data['progress']}"
        time.sleep(0.02)


def cli_json(args: list[str]) -> Any:
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli_error(args: list[str]) -> tuple[int, str]:
    """The CLI's exit code and its one error line, without the ``nkescape: `` prefix."""
    result = runner.invoke(cli, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code in (1, 2) and len(lines) == 1, result.output
    return result.exit_code, lines[0].removeprefix("nkescape: ")


def same_words(api: str, code: int, cli_line: str, option: str) -> None:
    """The API's line says what the CLI's says: all of it (exit 1), or Click's ``Invalid value
    for '--option': ...`` part (exit 2, the API naming the field instead of the option)."""
    if code == 1:
        assert api == cli_line
    else:
        field, _, what = api.partition(": ")
        assert field == option.lstrip("-").replace("-", "_")
        assert f"Invalid value for '{option}': {what}" in cli_line


# --- reference data -------------------------------------------------------------------------


def test_meta_states_version_data_date_limits_and_vocabularies(
    client: TestClient, bare: TestClient
) -> None:
    from nkescape import __version__

    meta = client.get("/api/meta").json()
    assert meta["name"] == "nkescape" and meta["version"] == __version__
    assert meta["atlas"] == ATLAS.counts()
    newest = max(e.date for e in ATLAS.events.values())
    assert dt.date.fromisoformat(meta["data_date"]) >= newest
    assert meta["max_runs"] == web_app.MAX_RUNS and meta["max_jobs"] == 2
    assert meta["months"][0] == "January" and len(meta["months"]) == 12
    assert meta["funding"] == ["self", "broker-later", "ngo", "church"]
    assert "china.repatriation" in meta["scenario_keys"]
    assert meta["flows"] is True and meta["overlay"] is False
    assert bare.get("/api/meta").json()["flows"] is False


def test_atlas_endpoints_give_what_the_cli_prints(client: TestClient) -> None:
    shown = client.get("/api/atlas")
    assert shown.headers["content-type"] == "application/json"
    assert shown.json() == cli_json(["atlas", "show", "--json"])
    exported = client.get("/api/atlas.geojson")
    assert exported.headers["content-type"] == "application/geo+json"
    assert exported.json() == cli_json(["atlas", "export", "--format", "geojson"])


OVERLAY = Path(__file__).parent.parent / "examples" / "overlay"


@pytest.mark.parametrize("overlay", [OVERLAY, [OVERLAY]])
def test_an_overlay_is_layered_over_the_bundled_atlas(overlay: Path | list[Path]) -> None:
    app = create_app(overlay=overlay)
    assert set(app.state.atlas.legs) > set(ATLAS.legs)
    with TestClient(app) as c:
        meta = c.get("/api/meta").json()
        assert meta["overlay"] is True
        assert meta["atlas"]["legs"] > ATLAS.counts()["legs"]
        ids = {leg["id"] for leg in c.get("/api/atlas").json()["legs"]}
        assert set(ATLAS.legs) < ids


def test_a_bad_overlay_fails_at_create_app(tmp_path: Path) -> None:
    from nkescape.atlas import AtlasError

    (tmp_path / "places.yaml").write_text("places:\n  - id: x\n", encoding="utf-8")
    with pytest.raises(AtlasError):
        create_app(overlay=tmp_path)


def test_no_interactive_docs_are_served_and_the_schema_is(client: TestClient) -> None:
    assert client.get("/api/docs").status_code == 404
    assert client.get("/docs").status_code == 404
    schema = client.get("/api/openapi.json").json()
    assert {"/api/plan", "/api/simulate", "/api/jobs/{job_id}", "/api/network"} <= set(
        schema["paths"]
    )


def test_the_page_is_served_from_the_static_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>nkescape</title>", "utf-8")
    (tmp_path / "js" / "app.js").write_text("export {};", "utf-8")
    monkeypatch.setattr(web_app, "STATIC_DIR", tmp_path)
    with TestClient(create_app()) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<title>nkescape</title>" in page.text
        # The browser may load nothing but what this server serves.
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "connect-src 'self'" in policy
        assert "http" not in policy
        assert c.get("/api/meta").headers["x-content-type-options"] == "nosniff"
        assert c.get("/static/js/app.js").text == "export {};"
        assert c.get("/static/nothing.js").status_code == 404
    monkeypatch.setattr(web_app, "STATIC_DIR", tmp_path / "missing")
    with TestClient(create_app()) as c:
        page = c.get("/")
        assert page.status_code == 404 and "index.html is missing" in page.json()["detail"]


# --- the network on a date ------------------------------------------------------------------


def _legs(client: TestClient, query: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/network?{query}")
    assert response.status_code == 200, response.text
    return {leg["id"]: leg for leg in response.json()["legs"]}


def test_the_network_shows_ice_in_january_and_water_in_august(client: TestClient) -> None:
    january, august = _legs(client, "date=2017-01-15"), _legs(client, "month=8&year=2017")
    assert january["tumen-ice-walk"]["in_use"] and not august["tumen-ice-walk"]["in_use"]
    assert "not used in August" in august["tumen-ice-walk"]["why_not"]
    assert august["tumen-wade"]["in_use"] and not january["tumen-wade"]["in_use"]
    assert january["tumen-ice-walk"]["why_not"] is None
    # The swollen river: a season note, and a slower, riskier wade than in spring.
    assert "swells" in august["tumen-wade"]["season"]
    may = _legs(client, "month=5&year=2017")["tumen-wade"]
    assert may["season"] is None
    assert august["tumen-wade"]["p_intercept"]["mid"] > may["p_intercept"]["mid"]
    assert august["tumen-wade"]["days"]["mid"] > may["days"]["mid"]
    for leg in [*january.values(), *august.values()]:
        for band in ("p_intercept", "days", "cost_usd"):
            b = leg[band]
            assert b["low"] <= b["mid"] * (1 + 1e-9) and b["mid"] <= b["high"] * (1 + 1e-9), leg
        assert set(leg["sources"]) <= set(ATLAS.sources)


def test_the_network_names_the_events_in_force_and_what_they_shut(client: TestClient) -> None:
    network = client.get("/api/network?date=2021-06-01").json()
    events = {e["id"]: e for e in network["events"]}
    assert "border-sealed" in events and events["border-sealed"]["until"] == "2023-08-26"
    legs = {leg["id"]: leg for leg in network["legs"]}
    assert not legs["yalu-wade"]["in_use"]
    assert legs["yalu-wade"]["why_not"].startswith("shut by North Korea seals its border")
    assert any("Almost no one leaves" in line for line in network["departure_notes"])
    before = client.get("/api/network?date=2019-06-01").json()
    assert "border-sealed" not in {e["id"] for e in before["events"]}
    assert {leg["id"]: leg for leg in before["legs"]}["yalu-wade"]["in_use"]
    places = {p["id"]: p for p in network["places"]}
    assert places["seoul"]["safe"] and not places["hyesan"]["safe"]


def test_the_network_figures_are_the_planners(client: TestClient) -> None:
    # A plan's legs are figured in the month they are taken, under the events in force on the
    # departure date: those taken in the departure month have the map's figures for that date.
    plan = client.post("/api/plan", json={"from": "hyesan", "date": "2017-01-01"}).json()
    legs = _legs(client, "date=2017-01-01")
    steps = [s for it in plan["itineraries"] for s in it["legs"] if s["kind"] == "leg"]
    january = [s for s in steps if s["month"] == 1]
    assert len({s["leg"] for s in january}) >= 3
    for step in january:
        leg = legs[step["leg"]]
        assert leg["in_use"]
        assert step["p_intercept"] == round(leg["p_intercept"]["mid"], 5)
        assert step["p_intercept_range"] == [
            round(leg["p_intercept"]["low"], 5),
            round(leg["p_intercept"]["high"], 5),
        ]
        assert step["days"] == round(leg["days"]["mid"], 2)
        assert step["cost_usd"] == round(leg["cost_usd"]["mid"], 2)
        assert step["p_sent_back_if_caught"] == round(leg["p_sent_back_if_caught"], 4)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("date=x", "date: cannot read 'x' (write YYYY-MM-DD, e.g. 2017-09-01)"),
        ("date=2017-01-01&month=2", "give a date, or a month and year, not both"),
        ("month=13", "month: Input should be less than or equal to 12"),
        ("month=x", "month: Input should be a valid integer, unable to parse string as an integer"),
        ("year=1800", "year: 1800 is outside the years the atlas covers (1900-2100)"),
        ("date=1800-01-01", "date: 1800-01-01 is outside the years the atlas covers (1900-2100)"),
    ],
)
def test_the_network_refuses_bad_dates_in_one_line(
    client: TestClient, query: str, detail: str
) -> None:
    response = client.get(f"/api/network?{query}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


def test_the_network_defaults_to_today(client: TestClient) -> None:
    today = dt.date.today()
    assert client.get("/api/network").json()["date"] == today.isoformat()
    assert client.get("/api/network?month=3").json()["date"] == f"{today.year}-03-01"


# --- plan -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "args"),
    [
        (
            {
                "from": "musan",
                "date": "2017-09-01",
                "group": "2w,1c",
                "funding": "ngo",
                "avoid": ["MN"],
                "budget": 20000,
            },
            [
                "--from",
                "musan",
                "--date",
                "2017-09-01",
                "--group",
                "2w,1c",
                "--funding",
                "ngo",
                "--avoid",
                "MN",
                "--budget",
                "20000",
            ],
        ),
        (
            {"profile": "worker-abroad-russia", "month": 3, "avoid": "CN", "max_days": 400},
            [
                "--profile",
                "worker-abroad-russia",
                "--month",
                "3",
                "--avoid",
                "CN",
                "--max-days",
                "400",
            ],
        ),
    ],
)
def test_plan_gives_what_the_cli_prints(
    client: TestClient, body: dict[str, Any], args: list[str]
) -> None:
    response = client.post("/api/plan", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    geojson = data.pop("geojson")
    assert data == cli_json(["plan", *args, "--json"])
    lines = [f for f in geojson["features"] if f["geometry"]["type"] == "LineString"]
    assert len(lines) == sum(
        1 for it in data["itineraries"] for step in it["legs"] if step["kind"] == "leg"
    )
    assert {f["properties"]["rank"] for f in lines} == set(range(1, len(data["itineraries"]) + 1))


def test_a_calibrated_plan_is_the_clis_with_the_posterior(
    bare: TestClient, flows_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nkescape.flows.calibrated

    made: list[Posterior] = []
    real = nkescape.flows.calibrated.calibrated_atlas

    def spy(atlas: Any, posterior: Posterior) -> Any:
        made.append(posterior)
        return real(atlas, posterior)

    monkeypatch.setattr(nkescape.flows.calibrated, "calibrated_atlas", spy)
    body = {"from": "hyesan", "date": "2017-09-01", "calibrated": True}
    with TestClient(create_app(flows_dir=flows_dir)) as c:
        data = c.post("/api/plan", json=body).json()
        assert c.post("/api/plan", json=body).status_code == 200
    # The saved posterior calibrated the atlas, once for both requests.
    assert len(made) == 1 and made[0].meta == {"seed": 7, "chains": 1}
    data.pop("geojson")
    args = ["plan", "--from", "hyesan", "--date", "2017-09-01", "--json"]
    assert data == cli_json([*args, "--parameters", str(flows_dir / "posterior.json")])
    missing = bare.post("/api/plan", json=body)
    assert missing.status_code == 404
    assert "no posterior at " in missing.json()["detail"]
    assert "run `nkescape flows fit --out " in missing.json()["detail"]
    (tmp_path / "posterior.json").write_text("[]", encoding="utf-8")
    with TestClient(create_app(flows_dir=tmp_path)) as c:
        broken = c.post("/api/plan", json=body)
    assert broken.status_code == 404 and "not a posterior file" in broken.json()["detail"]


@pytest.mark.parametrize(
    ("body", "args", "option"),
    [
        ({"from": "hyesna"}, ["--from", "hyesna"], ""),
        (
            {"from": "hyesan", "date": "1800-01-01"},
            ["--from", "hyesan", "--date", "1800-01-01"],
            "",
        ),
        ({"from": "hyesan", "group": "2q"}, ["--from", "hyesan", "--group", "2q"], ""),
        ({"from": "hyesan", "avoid": "XX"}, ["--from", "hyesan", "--avoid", "XX"], ""),
        ({"from": "hyesan", "budget": -1}, ["--from", "hyesan", "--budget", "-1"], ""),
        (
            {"from": "hyesan", "month": 1, "date": "2017-01-01"},
            ["--from", "hyesan", "--month", "1", "--date", "2017-01-01"],
            "",
        ),
        ({"from": "hyesan", "profile": "wroker"}, ["--from", "hyesan", "--profile", "wroker"], ""),
        (
            {"from": "hyesan", "funding": "nope"},
            ["--from", "hyesan", "--funding", "nope"],
            "--funding",
        ),
        ({"from": "hyesan", "month": 13}, ["--from", "hyesan", "--month", "13"], "--month"),
        ({"from": "hyesan", "month": "x"}, ["--from", "hyesan", "--month", "x"], "--month"),
        (
            {"from": "hyesan", "date": "2017-13-01"},
            ["--from", "hyesan", "--date", "2017-13-01"],
            "",
        ),
    ],
)
def test_plan_refuses_bad_input_in_the_clis_words(
    client: TestClient, body: dict[str, Any], args: list[str], option: str
) -> None:
    response = client.post("/api/plan", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "\n" not in detail
    code, line = cli_error(["plan", *args, "--json"])
    if option:
        same_words(detail, code, line, option)
    elif code == 2:  # a date the CLI cannot read: Click names the option, the API the field
        assert detail.startswith("date: ") and detail.removeprefix("date: ") in line
    else:
        assert detail == line


def test_bad_bodies_are_one_line_naming_the_field(client: TestClient) -> None:
    cases = {
        '{"from": "hyesan", "foo": 1}': "foo: Extra inputs are not permitted",
        '{"from": "hyesan", "avoid": 5}': "avoid: Input should be a valid list or a valid string",
        '{"from": "hyesan", "budget": "lots"}': "budget: Input should be a valid number",
        "[1, 2]": "body: Input should be a valid dictionary",
        "{not json": "body: JSON decode error",
    }
    for text, detail in cases.items():
        response = client.post(
            "/api/plan", content=text, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, text
        assert response.json()["detail"].startswith(detail), response.json()


def test_an_unexpected_error_is_one_line_and_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(web_app, "network_on", broken)
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        response = c.get("/api/network?date=2017-01-01")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "internal error: RuntimeError: a bug; over two lines (please report it)"
    }


# --- simulate -------------------------------------------------------------------------------


def test_simulate_gives_what_the_cli_prints_with_funnel_and_histograms(
    client: TestClient, tmp_path: Path
) -> None:
    runs = 20_000
    body = {"from": "hyesan", "date": "2017-09-01", "itinerary": 2, "runs": runs, "seed": 3}
    started = client.post("/api/simulate", json=body)
    assert started.status_code == 202 and started.json()["state"] in ("queued", "running")
    job = wait(client, started.json()["id"])
    assert job["kind"] == "simulate" and job["state"] == "done", job["error"]
    assert job["progress"]["done"] == job["progress"]["total"] == runs
    result = job["result"]
    args = ["simulate", "--from", "hyesan", "--date", "2017-09-01", "--itinerary", "2"]
    args += ["--runs", str(runs), "--seed", "3", "--json", "--out", str(tmp_path / "sim")]
    assert result["summary"] == cli_json(args)
    summary = result["summary"]
    funnel = result["funnel"]
    assert [bar["leg"] for bar in funnel] == summary["legs"]
    assert funnel[0]["count"] == runs
    assert funnel[0]["label"] == ATLAS.legs[funnel[0]["leg"]].name
    for bar, after in itertools.pairwise(funnel):
        assert bar["count"] - sum(bar["ended"].values()) == after["count"]
        assert bar["share"] == bar["count"] / runs
    days, cost = result["days"], result["cost"]
    assert len(days["edges"]) == len(days["counts"]) + 1 == len(days["destination_counts"]) + 1
    assert len(days["counts"]) <= CHART_BARS
    assert np.all(np.diff(days["edges"]) > 0) and np.all(np.diff(cost["edges"]) > 0)
    assert sum(days["counts"]) == round(summary["p_reach_safety"]["value"] * runs)
    assert sum(days["destination_counts"]) == round(summary["p_reach_destination"]["value"] * runs)
    assert sum(cost["counts"]) == runs
    # The regrouped bins hold the summary's quantiles where they should.
    median = summary["days_to_safety"]["p50"]
    i = int(np.searchsorted(days["edges"], median)) - 1
    assert sum(days["counts"][:i]) <= sum(days["counts"]) / 2 <= sum(days["counts"][: i + 1])


def test_adaptive_journeys_run_as_a_job(client: TestClient) -> None:
    body = {"from": "hyesan", "date": "2017-09-01", "adaptive": True, "runs": 2000, "seed": 1}
    job = wait(client, client.post("/api/simulate", json=body).json()["id"])
    assert job["state"] == "done", job["error"]
    assert job["result"]["summary"]["kernel"] == "adaptive"
    assert job["result"]["funnel"][0]["count"] == 2000


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ({"runs": web_app.MAX_RUNS + 1}, "runs: at most 100,000,000 journeys per simulation"),
        ({"runs": 0}, "runs: Input should be greater than or equal to 1"),
        ({"itinerary": 99}, "itinerary: choose 1-"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"backend": "gpu"}, "backend: 'gpu' is not one of 'auto', 'numpy', 'numba', 'jax'."),
        ({"device": "auto"}, "device: 'auto' is not one of 'cpu', 'gpu'."),
        ({"device": "gpu", "backend": "numpy"}, "the numpy kernel runs on the CPU: use device cpu"),
        ({"adaptive": True, "backend": "numba"}, "adaptive: re-planning journeys run the NumPy"),
        ({"from": "hyesna"}, "unknown origin place 'hyesna' (did you mean 'hyesan'?)"),
    ],
)
def test_simulate_refuses_bad_input_before_starting_a_job(
    client: TestClient, extra: dict[str, Any], detail: str
) -> None:
    response = client.post("/api/simulate", json={"from": "hyesan", "month": 1, **extra})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


def test_simulate_itinerary_out_of_range_is_the_clis_line(client: TestClient) -> None:
    detail = client.post(
        "/api/simulate", json={"from": "hyesan", "date": "2017-09-01", "itinerary": 99}
    ).json()["detail"]
    code, line = cli_error(
        ["simulate", "--from", "hyesan", "--date", "2017-09-01", "--itinerary", "99"]
    )
    assert code == 1 and line == "--" + detail


# --- jobs -----------------------------------------------------------------------------------


def test_jobs_queue_run_are_cancelled_and_refused_when_the_queue_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_app, "MAX_QUEUED", 1)
    with TestClient(create_app(flows_dir=tmp_path, max_jobs=1)) as c:
        # Long enough to be running when cancelled (about 20 s on NumPy if it were not).
        big = {"from": "hyesan", "date": "2017-09-01", "runs": 40_000_000, "backend": "numpy"}
        first = c.post("/api/simulate", json=big).json()["id"]
        running = wait(c, first, lambda v: v["progress"]["done"] > 0)
        assert running["state"] == "running" and running["started"] is not None
        small = {"from": "hyesan", "date": "2017-09-01", "runs": 1000}
        second = c.post("/api/simulate", json=small).json()
        assert second["state"] == "queued"
        assert c.get(f"/api/jobs/{second['id']}").json()["state"] == "queued"
        full = c.post("/api/simulate", json=small)
        assert full.status_code == 429 and "already waiting" in full.json()["detail"]
        assert c.delete(f"/api/jobs/{first}").json() == {"id": first, "state": "cancelled"}
        # The one worker is freed at the simulator's next chunk, so the queued job runs.
        done = wait(c, second["id"], timeout=10)
        assert done["state"] == "done" and done["result"]["summary"]["runs"] == 1000
        cancelled = c.get(f"/api/jobs/{first}").json()
        assert cancelled["state"] == "cancelled" and cancelled["result"] is None
        assert cancelled["progress"]["done"] < cancelled["progress"]["total"]
        # A finished job stays as it ended.
        assert c.delete(f"/api/jobs/{second['id']}").json()["state"] == "done"
        for method in ("GET", "DELETE"):
            unknown = c.request(method, "/api/jobs/nope")
            assert unknown.status_code == 404 and "no job 'nope'" in unknown.json()["detail"]


def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end
        time.sleep(0.005)


def test_the_job_manager_cancels_cooperatively_and_keeps_few_finished_jobs() -> None:
    jobs = JobManager(1, max_queued=2, keep=2, keep_seconds=3600)
    release = threading.Event()
    stopped = threading.Event()
    ran: list[str] = []

    def blocking(progress: Progress) -> dict[str, Any]:
        progress.stage("waiting")
        try:
            while True:
                release.wait(0.01)
                progress.advance(1)
        except JobCancelledError:
            stopped.set()
            raise

    def record(name: str) -> Callable[[Progress], dict[str, Any]]:
        def fn(_: Progress) -> dict[str, Any]:
            ran.append(name)
            return {"name": name}

        return fn

    first = jobs.submit("simulate", 10**6, blocking)["id"]
    _until(lambda: (jobs.get(first) or {}).get("state") == "running")
    queued = jobs.submit("simulate", 1, record("queued"))["id"]
    later = jobs.submit("simulate", 1, record("later"))["id"]
    with pytest.raises(QueueFullError):
        jobs.submit("simulate", 1, record("refused"))
    assert jobs.cancel(queued) is not None  # cancelled while it waits: it never runs
    assert jobs.cancel(first) is not None
    assert stopped.wait(5)  # the running job saw the cancel at its next report
    _until(lambda: (jobs.get(later) or {}).get("state") == "done")
    assert ran == ["later"]
    assert jobs.get(first)["state"] == "cancelled"  # type: ignore[index]
    assert jobs.get(first)["progress"]["stage"] == "waiting"  # type: ignore[index]

    def failing(exc: Exception) -> Callable[[Progress], dict[str, Any]]:
        def fn(_: Progress) -> dict[str, Any]:
            raise exc

        return fn

    bad = jobs.submit("scenario", 1, failing(ValueError("no route\nat all")))["id"]
    _until(lambda: (jobs.get(bad) or {}).get("state") == "failed")
    assert jobs.get(bad)["error"] == "no route; at all"  # type: ignore[index]
    bug = jobs.submit("scenario", 1, failing(KeyError("x")))["id"]
    _until(lambda: (jobs.get(bug) or {}).get("state") == "failed")
    assert jobs.get(bug)["error"] == "internal error: KeyError: 'x'"  # type: ignore[index]
    # Five finished, two kept: the last two.
    assert [jobs.get(j) is not None for j in (first, queued, later, bad, bug)] == [
        False,
        False,
        False,
        True,
        True,
    ]
    jobs.close()

    brief = JobManager(1, max_queued=1, keep=10, keep_seconds=0.0)
    gone = brief.submit("simulate", 1, record("gone"))["id"]
    _until(lambda: "gone" in ran)
    time.sleep(0.01)
    assert brief.get(gone) is None
    brief.close()
    with pytest.raises(ValueError, match="max_jobs must be at least 1"):
        JobManager(0, max_queued=1, keep=1, keep_seconds=1)


# --- flows ----------------------------------------------------------------------------------


def test_flows_gives_the_saved_fit(
    client: TestClient, bare: TestClient, flows_dir: Path, tmp_path: Path
) -> None:
    saved = json.loads((flows_dir / "fit.json").read_text(encoding="utf-8"))
    response = client.get("/api/flows")
    assert response.status_code == 200
    data = response.json()
    assert data["years"] == saved["years"] and data["meta"] == saved["meta"] == {
        "seed": 7,
        "chains": 1,
    }
    assert data["stock_in_china"] == saved["stock_in_china"]
    missing = bare.get("/api/flows")
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("no saved fit at ")
    assert "run `nkescape flows fit --out " in missing.json()["detail"]
    (tmp_path / "fit.json").write_text("{broken", encoding="utf-8")
    with TestClient(create_app(flows_dir=tmp_path)) as c:
        broken = c.get("/api/flows")
        assert broken.status_code == 404 and "cannot read the saved fit" in broken.json()["detail"]


def test_a_scenario_gives_what_the_cli_prints(
    client: TestClient, flows_dir: Path, tmp_path: Path
) -> None:
    body = {"set": {"china.repatriation": 0.0}, "from": "2024-01", "years": 1, "seed": 1}
    started = client.post("/api/flows/scenario", json=body)
    assert started.status_code == 202
    job = wait(client, started.json()["id"])
    assert job["kind"] == "scenario" and job["state"] == "done", job["error"]
    assert job["progress"] == {
        "done": 2,
        "total": 2,
        "stage": "projecting the scenario and the baseline",
    }
    args = ["flows", "scenario", "--parameters", str(flows_dir / "posterior.json")]
    args += ["--set", "china.repatriation=0", "--from", "2024-01", "--years", "1"]
    args += ["--seed", "1", "--out", str(tmp_path / "s"), "--json"]
    assert job["result"] == cli_json(args)
    # The set as KEY=FACTOR texts, as --set takes them, is the same scenario.
    again = client.post("/api/flows/scenario", json={**body, "set": ["china.repatriation=0"]})
    assert wait(client, again.json()["id"])["result"] == job["result"]


@pytest.mark.parametrize(
    ("body", "args"),
    [
        ({"set": {"china.repatriations": 0}}, ["--set", "china.repatriations=0"]),
        ({"set": {"china.repatriation": -1}}, ["--set", "china.repatriation=-1"]),
        ({"set": ["china.repatriation=."]}, ["--set", "china.repatriation=."]),
        ({"set": ["nonsense"]}, ["--set", "nonsense"]),
        ({"set": {"broker.fees": 0}}, ["--set", "broker.fees=0"]),
        (
            {"set": {"ngo.funding": 2}, "from": "1980-01"},
            ["--set", "ngo.funding=2", "--from", "1980-01"],
        ),
        (
            {"set": {"ngo.funding": 2}, "from": "2026-13"},
            ["--set", "ngo.funding=2", "--from", "2026-13"],
        ),
        (
            {"set": {"ngo.funding": 2}, "from": "2099-01", "years": 5},
            ["--set", "ngo.funding=2", "--from", "2099-01", "--years", "5"],
        ),
    ],
)
def test_a_scenario_refuses_bad_input_in_the_clis_words(
    client: TestClient, flows_dir: Path, tmp_path: Path, body: dict[str, Any], args: list[str]
) -> None:
    response = client.post("/api/flows/scenario", json=body)
    assert response.status_code == 422
    posterior = str(flows_dir / "posterior.json")
    code, line = cli_error(
        ["flows", "scenario", "--parameters", posterior, "--out", str(tmp_path), *args]
    )
    assert code == 1 and response.json()["detail"] == line


def test_a_scenario_needs_a_saved_posterior(bare: TestClient) -> None:
    response = bare.post("/api/flows/scenario", json={"set": {"china.repatriation": 0}})
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no posterior at ")
    assert "flows fit" in response.json()["detail"]
    years = bare.post("/api/flows/scenario", json={"set": {}, "years": 0})
    assert years.status_code == 422
    assert years.json()["detail"] == "years: Input should be greater than or equal to 1"


def test_the_fit_the_network_and_job_results_are_what_the_schema_says(client: TestClient) -> None:
    # The schema test's server has no fit and runs tiny jobs; here the answers with a fit and a
    # scenario's result are held to the published schema too.
    import schemathesis
    from schemathesis.specs.openapi.checks import (
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", client.app)
    checks = [status_code_conformance, response_schema_conformance]

    def check(path: str, method: str, **kwargs: Any) -> Any:
        case = schema[path][method].Case(**kwargs)
        response = case.call()
        case.validate_response(response, checks=checks)
        return response.json()

    assert check("/api/flows", "GET")["years"]
    check("/api/meta", "GET")
    check("/api/network", "GET", query={"date": "2021-06-01"})
    body = {"set": {"china.repatriation": 0.5}, "from": "2024-01", "years": 1, "seed": 1}
    job_id = check("/api/flows/scenario", "POST", body=body)["id"]
    wait(client, job_id)
    assert check("/api/jobs/{job_id}", "GET", path_parameters={"job_id": job_id})["result"]


def test_histograms_are_regrouped_keeping_every_count() -> None:
    edges = np.arange(11.0)
    fine = [np.array([0, 0, 1, 2, 3, 0, 4, 0, 0, 0]), np.array([0, 0, 0, 0, 0, 5, 0, 0, 0, 0])]
    new_edges, (a, b) = regroup(fine, edges, bars=2)
    # The range with counts (bins 2-6) in at most 2 bars, of 3 bins each: [2, 5), [5, 8).
    assert new_edges.tolist() == [2.0, 5.0, 8.0]
    assert a.tolist() == [6, 4] and b.tolist() == [0, 5]
    empty_edges, empty_rows = regroup([np.zeros(10, dtype=np.int64)], edges)
    assert (empty_edges.tolist(), empty_rows.tolist()) == ([], [[]])
