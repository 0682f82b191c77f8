"""Benchmarks run and check their own answers (a smoke run on small sizes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_plan_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load("plan")
    bench.bundled(reference_limit=30)
    bench.synthetic([12, 300], [0.0], bench.seasonal_share(), 30)
    out = capsys.readouterr().out
    assert "bundled atlas:" in out and "same set" in out
    assert "300 places" in out and "did not finish" not in out


def test_atlas_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    load("atlas").main()
    assert "load_atlas" in capsys.readouterr().out


def test_simulate_benchmark_smoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["simulate.py", "--quick"])
    load("simulate").main()
    out = capsys.readouterr().out
    assert "ceiling:" in out and "reference loop" in out and "x the ceiling" in out
    assert "the same seed gave the same counts" in out and "peak resident" in out
    if importlib.util.find_spec("numba") is not None:
        assert "bound: the numba kernel's draws alone" in out


@pytest.mark.slow
def test_serve_benchmark_smoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from .test_web_browser import _browser_or_skip

    _browser_or_skip()
    monkeypatch.setattr(sys, "argv", ["serve.py", "--quick"])
    load("serve").main()
    out = capsys.readouterr().out
    assert "usable (map drawn)" in out and "API overhead per plan" in out
    assert "P(safety) the same" in out


@pytest.mark.slow
def test_board_benchmark_smoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real server on loopback for each backend, logged-in users for 5 s: every request answered
    # (the latency target is the benchmark's to judge, on a quiet machine, not a test's).
    from . import boardkit

    boardkit.require_postgres()
    monkeypatch.setattr(sys, "argv", ["board.py", "--quick"])
    load("board").main()
    out = capsys.readouterr().out
    assert out.count("requests/s") == 2, out
    assert out.count("errors 0") == 2, out
