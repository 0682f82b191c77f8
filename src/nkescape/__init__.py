"""nkescape: a sourced, uncertainty-aware model of the escape network North Korean refugees use.

The main entries, for scripts and notebooks::

    >>> import datetime as dt
    >>> import nkescape
    >>> atlas = nkescape.toy_atlas()  # or nkescape.load_atlas(), the bundled atlas
    >>> p = nkescape.plan(atlas, "home", "capital", month=1, today=dt.date(2017, 1, 1))
    >>> summary = nkescape.simulate(atlas, p, itinerary=1, runs=10_000, seed=1)
    >>> summary.to_json()["format"], summary.runs
    (1, 10000)

Names are imported on first use (PEP 562), so that ``import nkescape`` and ``nkescape --help``
stay fast: the atlas, planner and simulator load NumPy, SciPy and pydantic.
``nkescape.simulate`` is both the subpackage and, called, its ``simulate`` function.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from nkescape.atlas import Atlas, load_atlas, toy_atlas
    from nkescape.routing import Itinerary, Plan, PlanError, plan
    from nkescape.simulate import SimulationError, Summary, simulate, simulate_adaptive

# Each public name and the module that defines it.
_LAZY = {
    "Atlas": "nkescape.atlas",
    "load_atlas": "nkescape.atlas",
    "toy_atlas": "nkescape.atlas",
    "Itinerary": "nkescape.routing",
    "Plan": "nkescape.routing",
    "PlanError": "nkescape.routing",
    "plan": "nkescape.routing",
    "SimulationError": "nkescape.simulate",
    "Summary": "nkescape.simulate",
    "simulate": "nkescape.simulate",
    "simulate_adaptive": "nkescape.simulate",
}

__all__ = [
    "Atlas",
    "Itinerary",
    "Plan",
    "PlanError",
    "SimulationError",
    "Summary",
    "__version__",
    "load_atlas",
    "plan",
    "simulate",
    "simulate_adaptive",
    "toy_atlas",
]


def _version() -> str:
    # importlib.metadata alone takes about 0.2 s to import: read only when asked for.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nkescape")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nkescape' has no attribute {name!r}")
    if name == "simulate":
        # Also the name of the subpackage, which is made callable as the function for this
        # (see nkescape.simulate._SimulatePackage): Python binds ``nkescape.simulate`` to the
        # package whenever it is imported, so the package is what this name must be.
        return importlib.import_module(module)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
