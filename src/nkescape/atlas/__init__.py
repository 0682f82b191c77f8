"""The atlas: load, validate and query the sourced description of the escape network."""

from nkescape.atlas.compiled import CompiledAtlas, compile_atlas
from nkescape.atlas.errors import AtlasError, Problem
from nkescape.atlas.estimate import Estimate
from nkescape.atlas.geo import to_geojson
from nkescape.atlas.loader import BUNDLED_DIR, atlas_from_data, bundled_atlas, load_atlas
from nkescape.atlas.model import Atlas, Definition, Override, geodesic_km
from nkescape.atlas.schema import (
    KINDS,
    MODES,
    Actor,
    Case,
    Channel,
    CountryPolicy,
    Event,
    EventEffect,
    Leg,
    Place,
    Profile,
    Source,
)
from nkescape.atlas.toy import toy_atlas, toy_data

__all__ = [
    "BUNDLED_DIR",
    "KINDS",
    "MODES",
    "Actor",
    "Atlas",
    "AtlasError",
    "Case",
    "Channel",
    "CompiledAtlas",
    "CountryPolicy",
    "Definition",
    "Estimate",
    "Event",
    "EventEffect",
    "Leg",
    "Override",
    "Place",
    "Problem",
    "Profile",
    "Source",
    "atlas_from_data",
    "bundled_atlas",
    "compile_atlas",
    "geodesic_km",
    "load_atlas",
    "to_geojson",
    "toy_atlas",
    "toy_data",
]
