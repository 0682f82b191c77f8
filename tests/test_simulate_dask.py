"""Journeys beyond this process: chunks as Dask tasks give the same counts as threads here."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nkescape.atlas import Atlas, toy_atlas
from nkescape.cli import app
from nkescape.routing import Plan, plan
from nkescape.simulate import SimulationError, simulate
from nkescape.tasks import TaskRunner

runner = CliRunner()
# Six chunks of the toy atlas's journeys: more chunks than the cluster's two workers hold at once
# (two each), so that results come back while others are still to be submitted.
RUNS, CHUNK = 30_000, 5_000


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A scheduler address: two worker processes of one thread each, as the issue asks."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def toy() -> tuple[Atlas, Plan]:
    atlas = toy_atlas()
    return atlas, plan(atlas, "home", "capital", month=1, today=dt.date(2017, 1, 1))


def test_same_seed_same_counts_on_a_two_worker_cluster_as_here(
    cluster: str, toy: tuple[Atlas, Plan]
) -> None:
    atlas, p = toy
    here = simulate(atlas, p, runs=RUNS, seed=11, chunk=CHUNK, backend="numpy", workers=2)
    seen: list[int] = []
    there = simulate(
        atlas,
        p,
        runs=RUNS,
        seed=11,
        chunk=CHUNK,
        backend="numpy",
        scheduler=cluster,
        progress=seen.append,
    )
    assert there.to_json() == here.to_json()
    assert (there.outcomes == here.outcomes).all() and (there.funnel == here.funnel).all()
    assert (there.cost == here.cost).all() and there.safe == here.safe
    assert seen == [CHUNK] * (RUNS // CHUNK)  # one report per chunk, as it is counted
    other = simulate(atlas, p, runs=RUNS, seed=12, chunk=CHUNK, backend="numpy", scheduler=cluster)
    assert other.to_json() != here.to_json()  # the counts depend on the seed


def test_sync_tasks_give_the_same_counts(toy: tuple[Atlas, Plan]) -> None:
    atlas, p = toy
    here = simulate(atlas, p, runs=12_000, seed=3, chunk=4_000, backend="numpy")
    tasks = simulate(atlas, p, runs=12_000, seed=3, chunk=4_000, backend="numpy", scheduler="sync")
    assert tasks.to_json() == here.to_json()


def test_tasks_in_flight_are_bounded(cluster: str) -> None:
    drawn = 0

    def args() -> Iterator[tuple[int]]:
        nonlocal drawn
        for i in range(40):
            drawn += 1
            yield (-i,)

    with TaskRunner(cluster) as tasks:
        assert tasks.slots == 2
        for taken, result in enumerate(tasks.imap(abs, args(), in_flight=4), start=1):
            assert result == taken - 1  # in order
            assert drawn - taken <= 4 - 1  # never more than 4 submitted and not taken


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_bad_or_silent_scheduler_is_a_clear_error(
    toy: tuple[Atlas, Plan], monkeypatch: pytest.MonkeyPatch
) -> None:
    atlas, p = toy
    with pytest.raises(SimulationError, match=r"'localhost:8786' is not a scheduler: give tcp://"):
        simulate(atlas, p, runs=100, seed=1, scheduler="localhost:8786")
    monkeypatch.setattr("nkescape.tasks.CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(SimulationError, match=f"cannot reach the Dask scheduler at {address}"):
        simulate(atlas, p, runs=100, seed=1, backend="numpy", scheduler=address)


def test_per_journey_output_or_jax_with_a_scheduler_is_refused(toy: tuple[Atlas, Plan]) -> None:
    atlas, p = toy
    with pytest.raises(SimulationError, match=r"per-journey output.*counts only"):
        simulate(atlas, p, runs=100, seed=1, scheduler="sync", on_chunk=lambda chunk: None)
    with pytest.raises(SimulationError, match="the JAX kernel runs in this process"):
        simulate(atlas, p, runs=100, seed=1, backend="jax", scheduler="sync")


def test_cli_scheduler(cluster: str, tmp_path: Path) -> None:
    sim = ["simulate", "--from", "hyesan", "--date", "2017-09-01", "--runs", "3000", "--json"]
    sim += ["--backend", "numpy"]
    bad = runner.invoke(app, [*sim, "--scheduler", "localhost"])
    assert bad.exit_code == 2, bad.output
    assert len(bad.stderr.splitlines()) == 1
    assert "'localhost' is not a scheduler: give tcp://HOST:PORT" in bad.stderr
    parquet = runner.invoke(app, [*sim, "--scheduler", cluster, "--parquet"])
    assert parquet.exit_code == 1
    assert parquet.stderr.splitlines() == [
        "nkescape: --parquet needs every journey in this process; Dask workers return counts "
        "only (drop --scheduler, or --parquet)"
    ]
    here = runner.invoke(app, [*sim, "--out", str(tmp_path / "here")])
    there = runner.invoke(app, [*sim, "--scheduler", cluster, "--out", str(tmp_path / "there")])
    assert here.exit_code == 0 and there.exit_code == 0, there.output
    assert json.loads(there.stdout) == json.loads(here.stdout)
