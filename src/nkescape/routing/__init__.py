"""The planner: Pareto-optimal itineraries out for a person or group, month and budget."""

from nkescape.routing.build import build_network, events_in_force, p_sent_back
from nkescape.routing.network import Calendar, Network
from nkescape.routing.plan import Itinerary, Plan, Step, plan
from nkescape.routing.query import FUNDING, Funding, Group, PlanError
from nkescape.routing.reference import brute_force_pareto
from nkescape.routing.search import Label, lower_bounds, pareto_search
from nkescape.routing.synthetic import random_network

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
