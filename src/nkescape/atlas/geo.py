"""GeoJSON of the atlas for maps: places as points, legs as geodesic lines."""

from __future__ import annotations

import functools
from typing import Any

from geographiclib.geodesic import Geodesic

from nkescape.atlas.model import Atlas
from nkescape.atlas.schema import Leg

__all__ = ["leg_identity", "leg_line", "to_geojson"]

# Long legs (flights, the bus across China) are drawn as geodesics sampled every this many km so
# that they curve as on a globe; short legs stay straight.
_SAMPLE_KM = 100.0


def leg_line(lat1: float, lon1: float, lat2: float, lon2: float) -> list[list[float]]:
    """``[lon, lat]`` points along the geodesic between two points."""
    # A fresh list each call: callers put it into GeoJSON they may change.
    return [list(p) for p in _geodesic(lat1, lon1, lat2, lon2)]


# Every plan's GeoJSON draws the same few hundred legs again, and the geodesic is most of the time
# a plan takes to answer the dashboard (32 of 45 ms); the bundled atlas has 75 legs.
_LINES_KEPT = 4096


@functools.lru_cache(maxsize=_LINES_KEPT)
def _geodesic(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> tuple[tuple[float, float], ...]:
    line = Geodesic.WGS84.InverseLine(lat1, lon1, lat2, lon2)
    steps = max(1, int(line.s13 / 1000.0 / _SAMPLE_KM))
    points = []
    for i in range(steps + 1):
        pos = line.Position(line.s13 * i / steps)
        points.append((round(pos["lon2"], 5), round(pos["lat2"], 5)))
    return tuple(points)


def leg_identity(leg: Leg) -> dict[str, Any]:
    """What names a leg wherever it is drawn (the atlas's GeoJSON, the dashboard's map): its id,
    name, ends, mode, who runs it and the months it is used in."""
    return {
        "id": leg.id,
        "name": leg.name,
        "from": leg.from_,
        "to": leg.to,
        "mode": leg.mode,
        "operator": leg.operator,
        "months": list(leg.months),
    }


def to_geojson(atlas: Atlas) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the atlas's places and legs."""
    features: list[dict[str, Any]] = []
    for place in atlas.places.values():
        features.append(
            {
                "type": "Feature",
                "id": f"place/{place.id}",
                "geometry": {"type": "Point", "coordinates": [place.lon, place.lat]},
                "properties": {
                    "feature": "place",
                    "id": place.id,
                    "name": place.name,
                    "country": place.country,
                    "kind": place.kind,
                },
            }
        )
    for leg in atlas.legs.values():
        a, b = atlas.places[leg.from_], atlas.places[leg.to]
        features.append(
            {
                "type": "Feature",
                "id": f"leg/{leg.id}",
                "geometry": {
                    "type": "LineString",
                    "coordinates": leg_line(a.lat, a.lon, b.lat, b.lon),
                },
                "properties": {
                    "feature": "leg",
                    **leg_identity(leg),
                    "in_use": leg.in_use.model_dump(by_alias=True) if leg.in_use else None,
                    "duration_days": leg.duration_days.central,
                    "cost_usd": leg.cost_usd.central,
                    "p_intercept": leg.p_intercept.central,
                    "distance_km": round(atlas.leg_distance(leg).central, 1),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
