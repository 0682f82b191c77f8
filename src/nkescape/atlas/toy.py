"""A five-place atlas that builds in milliseconds, for examples, doctests and tests."""

from __future__ import annotations

from typing import Any

from nkescape.atlas.loader import atlas_from_data
from nkescape.atlas.model import Atlas

__all__ = ["toy_atlas", "toy_data"]

_J = "toy-judgement"


def _e(**numbers: float) -> dict[str, Any]:
    return {**numbers, "source": _J, "note": "toy figure"}


def toy_data() -> dict[str, list[dict[str, Any]]]:
    """The toy atlas as plain data, for tests that mutate it."""
    return {
        "sources": [
            {
                "id": _J,
                "title": "Toy figures for examples",
                "publisher": "nkescape",
                "kind": "assumption",
            }
        ],
        "places": [
            {
                "id": "home",
                "name": "Home",
                "country": "KP",
                "kind": "origin-town",
                "lat": 41.4,
                "lon": 128.2,
                "source": _J,
            },
            {
                "id": "bank",
                "name": "Far bank",
                "country": "CN",
                "kind": "border-crossing",
                "lat": 41.45,
                "lon": 128.2,
                "source": _J,
            },
            {
                "id": "city",
                "name": "City",
                "country": "CN",
                "kind": "transit-city",
                "lat": 41.8,
                "lon": 123.4,
                "source": _J,
            },
            {
                "id": "haven",
                "name": "Haven",
                "country": "TH",
                "kind": "detention-centre",
                "lat": 20.3,
                "lon": 100.1,
                "source": _J,
            },
            {
                "id": "capital",
                "name": "Capital",
                "country": "KR",
                "kind": "destination",
                "lat": 37.6,
                "lon": 127.0,
                "source": _J,
            },
        ],
        "legs": [
            {
                "id": "river-wade",
                "name": "Wade the river",
                "from": "home",
                "to": "bank",
                "mode": "wade",
                "operator": "broker",
                "months": [4, 5, 6, 7, 8, 9, 10, 11],
                "duration_days": _e(median=0.2, p90=0.5),
                "cost_usd": _e(low=1000, high=2000),
                "p_intercept": _e(low=0.05, high=0.15),
                "detour_factor": _e(value=1.0),
                "seasonal": [
                    {
                        "months": [7, 8],
                        "p_intercept_factor": _e(value=2.0),
                        "note": "high water",
                        "source": _J,
                    }
                ],
                "source": _J,
            },
            {
                "id": "river-ice",
                "name": "Walk the ice",
                "from": "home",
                "to": "bank",
                "mode": "ice-walk",
                "operator": "broker",
                "months": [12, 1, 2],
                "duration_days": _e(value=0.2),
                "cost_usd": _e(value=1500),
                "p_intercept": _e(value=0.05),
                "detour_factor": _e(value=1.0),
                "source": _J,
            },
            {
                "id": "bank-city-bus",
                "name": "Bus to the city",
                "from": "bank",
                "to": "city",
                "mode": "bus",
                "operator": "broker",
                "duration_days": _e(median=2, p90=4),
                "cost_usd": _e(value=500),
                "p_intercept": _e(value=0.05),
                "detour_factor": _e(value=1.3),
                "source": _J,
            },
            {
                "id": "city-haven-bus",
                "name": "Overland south",
                "from": "city",
                "to": "haven",
                "mode": "bus",
                "operator": "broker",
                "duration_days": _e(median=8, p90=20),
                "cost_usd": _e(value=1500),
                "p_intercept": _e(low=0.05, high=0.2),
                "detour_factor": _e(value=1.4),
                "source": _J,
            },
            {
                "id": "city-capital-flight",
                "name": "Forged-passport flight",
                "from": "city",
                "to": "capital",
                "mode": "flight",
                "operator": "broker",
                "duration_days": _e(value=1),
                "cost_usd": _e(value=10000),
                "p_intercept": _e(value=0.3),
                "distance_km": _e(value=600),
                "in_use": {"from": 2000},
                "requires": ["forged-passport"],
                "source": _J,
            },
            {
                "id": "haven-capital-flight",
                "name": "Transfer flight",
                "from": "haven",
                "to": "capital",
                "mode": "flight",
                "operator": "state",
                "duration_days": _e(median=20, p90=40),
                "cost_usd": _e(value=0),
                "p_intercept": _e(value=0),
                "detour_factor": _e(value=1.0),
                "source": _J,
            },
        ],
        "policies": [
            {
                "id": "kp-all",
                "country": "KP",
                "in_use": {"from": 1950},
                "outcomes": {"repatriated": _e(value=1.0)},
                "detention_days": _e(value=0),
                "source": _J,
            },
            {
                "id": "cn-all",
                "country": "CN",
                "in_use": {"from": 1950},
                "outcomes": {
                    "repatriated": _e(low=0.8, high=0.95),
                    "released": _e(low=0.05, high=0.2),
                },
                "detention_days": _e(median=30, p90=90),
                "source": _J,
            },
            {
                "id": "th-all",
                "country": "TH",
                "in_use": {"from": 1950},
                "outcomes": {"handed_to_embassy": _e(value=1.0)},
                "detention_days": _e(median=14, p90=30),
                "source": _J,
            },
            {
                "id": "kr-all",
                "country": "KR",
                "in_use": {"from": 1950},
                "outcomes": {"released": _e(value=1.0)},
                "detention_days": _e(value=0),
                "source": _J,
            },
        ],
        "profiles": [
            {
                "id": "resident",
                "name": "Resident",
                "description": "Lives at home.",
                "starts": ["home"],
                "channels": ["river"],
                "source": _J,
            },
        ],
        "channels": [
            {
                "id": "river",
                "name": "Across the river",
                "description": "The land border.",
                "entry_legs": ["river-wade", "river-ice"],
                "covers": [{"seed": "10-dangerous-ways", "item": 10}],
                "source": _J,
            },
        ],
        "actors": [
            {
                "id": "broker",
                "name": "Broker",
                "kind": "broker",
                "price_factor": _e(value=1.0),
                "reliability": {
                    "robbed": _e(value=0.01),
                    "turned_in": _e(value=0.01),
                    "sold": _e(value=0.01),
                },
                "source": _J,
            },
        ],
        "events": [
            {
                "id": "crackdown",
                "name": "Crackdown",
                "date": "2011-12-17",
                "description": "Border tightened.",
                "effects": [
                    {
                        "legs": ["river-wade"],
                        "p_intercept_factor": _e(value=1.5),
                        "note": "tighter patrols",
                    }
                ],
                "source": _J,
            },
        ],
        "cases": [
            {
                "id": "winter-escape",
                "name": "A winter escape",
                "year": 2005,
                "months": [1],
                "people": 1,
                "profile": "resident",
                "channel": "river",
                "path": ["home", "bank", "city", "haven", "capital"],
                "outcome": "reached-destination",
                "source": _J,
            },
        ],
    }


def toy_atlas() -> Atlas:
    """A tiny valid atlas: a river (wade or ice), a bus, the overland route and a flight.

    Examples
    --------
    >>> atlas = toy_atlas()
    >>> sorted(atlas.places)
    ['bank', 'capital', 'city', 'haven', 'home']
    >>> [leg.id for leg in atlas.legs_from("home")]
    ['river-wade', 'river-ice']
    """
    return atlas_from_data(toy_data(), name="<toy>")
