"""One backend vocabulary for the planner and the simulator, resolved in one place."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from nkescape import backends
from nkescape.backends import BACKENDS, DEVICES, PLANNER_BACKENDS, BackendError, Engine, resolve

# What is installed and seen, for each row of the table: numba, jax, and a GPU that JAX sees.
EVERYTHING = {"numba": True, "jax": True, "gpu": True}
NO_GPU = {"numba": True, "jax": True, "gpu": False}
NOTHING = {"numba": False, "jax": False, "gpu": False}

FAST = r"pip install 'nkescape\[fast\]'"
GPU_EXTRA = r"pip install 'nkescape\[gpu\]'"

# (backend, device, what, small, environment, the engine or a pattern of the error's message).
TABLE: list[tuple[str, str, str, bool, dict[str, bool], Engine | str]] = [
    # auto picks: numba on the CPU when installed, else NumPy; JAX on a GPU.
    ("auto", "cpu", "simulator", False, EVERYTHING, Engine("numba", "cpu")),
    ("auto", "cpu", "simulator", False, NOTHING, Engine("numpy", "cpu")),
    ("auto", "gpu", "simulator", False, EVERYTHING, Engine("jax", "gpu")),
    ("auto", "gpu", "simulator", False, NO_GPU, "no GPU visible to JAX"),
    ("auto", "gpu", "simulator", False, NOTHING, f"the GPU kernel needs jax.*{GPU_EXTRA}"),
    # Explicit choices run as asked, or are an error naming the fix: never another kernel.
    ("numpy", "cpu", "simulator", False, EVERYTHING, Engine("numpy", "cpu")),
    ("numpy", "cpu", "simulator", False, NOTHING, Engine("numpy", "cpu")),
    ("numpy", "gpu", "simulator", False, EVERYTHING, "the numpy kernel runs on the CPU"),
    ("numba", "cpu", "simulator", False, EVERYTHING, Engine("numba", "cpu")),
    ("numba", "cpu", "simulator", False, NOTHING, f"the numba kernel needs numba.*{FAST}"),
    ("numba", "gpu", "simulator", False, EVERYTHING, "the numba kernel runs on the CPU"),
    ("jax", "cpu", "simulator", False, NO_GPU, Engine("jax", "cpu")),
    ("jax", "cpu", "simulator", False, NOTHING, f"the JAX kernel needs jax.*{GPU_EXTRA}"),
    ("jax", "gpu", "simulator", False, EVERYTHING, Engine("jax", "gpu")),
    ("jax", "gpu", "simulator", False, NO_GPU, "no GPU visible to JAX.*use device cpu"),
    # Names used before, refused with the ones that replaced them.
    ("python", "cpu", "simulator", False, EVERYTHING, "unknown backend 'python'.*'numpy'"),
    ("auto", "auto", "simulator", False, EVERYTHING, "unknown device 'auto'.*'cpu' or 'gpu'"),
    ("auto", "jax-cpu", "simulator", False, EVERYTHING, "backend='jax', device='cpu'"),
    ("fortran", "cpu", "simulator", False, EVERYTHING, "unknown backend 'fortran'"),
    ("auto", "tpu", "simulator", False, EVERYTHING, "unknown device 'tpu'"),
    # The planner: NumPy or numba, on the CPU; auto leaves numba to large networks.
    ("auto", "cpu", "planner", False, EVERYTHING, Engine("numba", "cpu")),
    ("auto", "cpu", "planner", True, EVERYTHING, Engine("numpy", "cpu")),
    ("auto", "cpu", "planner", False, NOTHING, Engine("numpy", "cpu")),
    ("numba", "cpu", "planner", True, EVERYTHING, Engine("numba", "cpu")),
    ("numba", "cpu", "planner", False, NOTHING, FAST),
    ("numpy", "cpu", "planner", False, EVERYTHING, Engine("numpy", "cpu")),
    ("jax", "cpu", "planner", False, EVERYTHING, "the planner has no JAX kernel"),
    ("python", "cpu", "planner", False, EVERYTHING, r"unknown backend 'python'.*backend='numpy'"),
    ("numpy", "gpu", "planner", False, EVERYTHING, "the planner runs on the CPU"),
    ("auto", "gpu", "planner", False, EVERYTHING, "the planner runs on the CPU"),
]


def pretend(monkeypatch: pytest.MonkeyPatch, env: dict[str, bool]) -> None:
    monkeypatch.setattr(backends, "installed", lambda package: env[package])
    monkeypatch.setattr(backends, "gpu_visible", lambda: env["gpu"])


@pytest.mark.parametrize(("backend", "device", "what", "small", "env", "expected"), TABLE)
def test_resolution_table(
    backend: str,
    device: str,
    what: Any,
    small: bool,
    env: dict[str, bool],
    expected: Engine | str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend(monkeypatch, env)
    if isinstance(expected, Engine):
        assert resolve(backend, device, what=what, small=small) == expected
    else:
        with pytest.raises(BackendError, match=expected):
            resolve(backend, device, what=what, small=small)


def test_every_name_of_the_vocabulary_is_in_the_table() -> None:
    rows = {(b, d, w) for b, d, w, *_ in TABLE}
    for b in BACKENDS:
        for d in DEVICES:
            assert (b, d, "simulator") in rows, (b, d)
    assert {b for b, _, w, *_ in TABLE if w == "planner"} >= set(PLANNER_BACKENDS) | {"jax"}


def test_the_vocabulary_loads_no_numpy() -> None:
    # The command line builds --help from it; checking what is installed imports nothing.
    code = (
        "import sys\nfrom nkescape.backends import BACKENDS, numba_available\n"
        "numba_available()\nprint(' '.join(m for m in ('numpy', 'numba', 'jax') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_plan_honours_an_explicit_numba_backend_with_required_legs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keeping the itineraries through one channel needs required legs; the numba kernel
    # searches for them itself (it used to hand them to the Python search silently).
    pytest.importorskip("numba")
    from nkescape.atlas import toy_atlas
    from nkescape.routing import plan, search

    calls: list[np.ndarray | None] = []
    real = search._search_numba

    def spy(*args: Any) -> Any:
        calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(search, "_search_numba", spy)
    atlas = toy_atlas()
    kw: dict[str, Any] = {"month": 1, "today": dt.date(2017, 1, 1), "channel": "river"}
    fast = plan(atlas, "home", "capital", backend="numba", **kw)
    assert len(calls) == 1 and calls[0] is not None and calls[0].any()
    plain = plan(atlas, "home", "capital", backend="numpy", **kw)
    assert len(calls) == 1  # numpy: the Python search
    assert fast.to_json() == plain.to_json()
    entries = set(atlas.channels["river"].entry_legs)
    assert all(any(s.leg in entries for s in it.legs) for it in fast.itineraries)


def test_plan_refuses_the_old_python_backend_with_the_new_name() -> None:
    from nkescape.atlas import toy_atlas
    from nkescape.routing import plan

    with pytest.raises(BackendError, match=r"'python'.*use backend='numpy'"):
        plan(toy_atlas(), "home", "capital", month=1, today=dt.date(2017, 1, 1), backend="python")


def test_each_small_helper_is_defined_once() -> None:
    from scipy.special import ndtri

    from nkescape.atlas.estimate import Z90, Estimate, lognormal_mu_sigma
    from nkescape.flows import parameters
    from nkescape.routing import _kernel, search

    assert search.WAIT is _kernel.WAIT
    assert float(ndtri(0.9)) == Z90  # the double nearest to the 90th percentile
    e = Estimate(median=10.0, p90=25.0, source=("s",))
    mu, sigma = lognormal_mu_sigma(10.0, 25.0)
    assert e.quantile(0.9) == pytest.approx(25.0, rel=1e-12)
    assert e.mean == pytest.approx(np.exp(mu + sigma**2 / 2), rel=1e-12)
    assert not hasattr(parameters, "_Z90")
    assert not hasattr(search, "_numba_available")
