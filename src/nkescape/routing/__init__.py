"""The planner: Pareto-optimal itineraries out for a person or group, month and budget.

Names are imported on first use (PEP 562), so that ``nkescape.routing.query``'s vocabulary (the
kinds of funding the command line offers) loads without NumPy or the atlas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nkescape.routing.build import build_network, events_in_force, p_sent_back
    from nkescape.routing.network import Calendar, Network
    from nkescape.routing.planner import Itinerary, Plan, Step, plan
    from nkescape.routing.query import FUNDING, Funding, Group, PlanError
    from nkescape.routing.reference import brute_force_pareto
    from nkescape.routing.search import Label, lower_bounds, pareto_search
    from nkescape.routing.synthetic import random_network

_WHERE = {
    "build_network": "build",
    "events_in_force": "build",
    "p_sent_back": "build",
    "Calendar": "network",
    "Network": "network",
    "Itinerary": "planner",
    "Plan": "planner",
    "Step": "planner",
    "plan": "planner",
    "FUNDING": "query",
    "Funding": "query",
    "Group": "query",
    "PlanError": "query",
    "brute_force_pareto": "reference",
    "Label": "search",
    "lower_bounds": "search",
    "pareto_search": "search",
    "random_network": "synthetic",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "FUNDING",
    "Calendar",
    "Funding",
    "Group",
    "Itinerary",
    "Label",
    "Network",
    "Plan",
    "PlanError",
    "Step",
    "brute_force_pareto",
    "build_network",
    "events_in_force",
    "lower_bounds",
    "p_sent_back",
    "pareto_search",
    "plan",
    "random_network",
]
