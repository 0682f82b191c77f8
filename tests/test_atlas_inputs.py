"""Every atlas input gets a clear answer: bounded numbers, strict types, odd files, bounded output.

Each test holds one reproduction of issue 14: values the check accepted but the planner could not
use, files the loader skipped in silence, and errors that came without a line or by the thousand.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from nkescape.atlas import AtlasError, Place, load_atlas, toy_data
from nkescape.atlas._yaml import dotted
from nkescape.atlas.estimate import LIMITS, Estimate, Quantity
from nkescape.atlas.model import geodesic_km
from nkescape.atlas.schema import KINDS
from nkescape.atlas.validate import walk
from nkescape.cli import app
from nkescape.routing import PlanError, plan

from .conftest import write_atlas

DOCS = Path(__file__).parents[1] / "docs" / "schema.md"
J = "toy-judgement"


def problems_of(*dirs: Path, overlays: tuple[Path, ...] = ()) -> list[str]:
    with pytest.raises(AtlasError) as info:
        load_atlas(*dirs, overlays=overlays)
    return [str(p) for p in info.value.problems]


# --- the bounds: one table, documented, on every estimate -----------------------------------------


def _quantities(annotation: Any) -> Iterator[str]:
    """Quantity names marked anywhere in an annotation (through Optional, tuples, unions)."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, Quantity):
            yield meta.name
    for arg in typing.get_args(annotation):
        yield from _quantities(arg)


def _mentions_estimate(annotation: Any) -> bool:
    if annotation is Estimate:
        return True
    return any(_mentions_estimate(a) for a in typing.get_args(annotation))


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def bounded_fields() -> dict[str, str]:
    """Field name (as written in data files) -> quantity, for every estimate field of the schema."""
    out: dict[str, str] = {}
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = list(KINDS.values())
    while todo:
        model = todo.pop()
        if model in seen or model is Estimate:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            key = info.alias or name
            marks = set(_quantities(info.annotation))
            marks |= {m.name for m in info.metadata if isinstance(m, Quantity)}
            if _mentions_estimate(info.annotation):
                assert len(marks) == 1, f"{model.__name__}.{key} is an estimate without one bound"
                out.setdefault(key, marks.pop())
                assert out[key] in LIMITS
            todo.extend(_models(info.annotation))
    return out


def test_every_estimate_of_the_schema_has_a_bound() -> None:
    fields = bounded_fields()
    assert {"duration_days", "cost_usd", "distance_km", "detour_factor", "people_moved"} <= set(
        fields
    )
    assert set(fields.values()) == set(LIMITS)


def _docs_table() -> dict[str, list[str]]:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Bounds") :]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] in LIMITS:
            rows[cells[0]] = cells
    return rows


def test_docs_state_the_bounds_the_code_enforces() -> None:
    rows = _docs_table()
    assert set(rows) == set(LIMITS)
    for quantity, limit in LIMITS.items():
        assert rows[quantity][2] == f"{limit.low:,.0f} to {limit.high:,.0f}", quantity
    # Every bounded field is named in the row of its quantity.
    for name, quantity in bounded_fields().items():
        assert f"`{name}`" in rows[quantity][1] or quantity == "probability", name


# --- numbers at the top of their bounds give a finite plan ------------------------------------


def _top(quantity: str) -> dict[str, Any]:
    return {"value": LIMITS[quantity].high, "source": J, "note": "at the top of its bound"}


def _raise_everything(value: Any, fields: dict[str, str]) -> Any:
    """Every estimate in ``value`` set to the top of its bound (outcomes handled by the caller)."""
    if isinstance(value, list):
        return [_raise_everything(v, fields) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if key in fields and isinstance(v, dict) and "source" in v:
            out[key] = _top(fields[key])
        else:
            out[key] = _raise_everything(v, fields)
    return out


def atlas_at_the_top() -> dict[str, Any]:
    """The toy atlas with every number at the top of its bound, and every effect used once."""
    fields = bounded_fields()
    data = _raise_everything(copy.deepcopy(toy_data()), fields)
    places = {p["id"]: Place.model_validate(p) for p in data["places"]}
    factors = {k: _top(q) for k, q in fields.items() if k.endswith("_factor") and k != "detour"}
    effect_factors = {
        k: factors[k] for k in ("duration_factor", "p_intercept_factor", "cost_factor")
    }
    for leg in data["legs"]:
        apart = geodesic_km(places[leg["from"]], places[leg["to"]])
        if "detour_factor" in leg and apart * LIMITS["factor"].high > LIMITS["km"].high:
            del leg["detour_factor"]
            leg["distance_km"] = _top("km")
        leg["seasonal"] = [
            {"months": list(range(1, 13)), **effect_factors, "note": "all year", "source": J}
        ]
        leg["group"] = [
            {"who": who, **effect_factors, "note": "every kind", "source": J}
            for who in ("child", "elderly", "disabled", "per-person")
        ]
    for policy in data["policies"]:
        # Outcomes must be able to sum to one: the first takes everyone.
        names = list(policy["outcomes"])
        policy["outcomes"] = {
            n: {"value": 1.0 if i == 0 else 0.0, "source": J, "note": "x"}
            for i, n in enumerate(names)
        }
        policy["hiding"] = {
            "p_caught_per_day": _top("probability"),
            "cost_usd_per_day": _top("usd"),
        }
    for actor in data["actors"]:
        actor["fee_usd"] = _top("usd")
    data["events"][0]["effects"] = [
        {
            "modes": ["wade", "ice-walk", "bus", "flight"],
            **{k: factors[k] for k in factors if k not in ("detour_factor", "price_factor")},
            "people_moved": _top("people"),
            "note": "everything at once",
        }
    ]
    for case in data["cases"]:
        case["people"] = int(LIMITS["people"].high)
        case["duration_days"] = _top("days")
    return data


def _finite(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _finite(v)
    elif isinstance(value, list):
        for v in value:
            yield from _finite(v)
    elif isinstance(value, float | int) and not isinstance(value, bool):
        yield float(value)


@pytest.mark.parametrize("probabilities", ["top", "toy"])
def test_every_number_at_its_top_still_plans(tmp_path: Path, probabilities: str) -> None:
    data = atlas_at_the_top()
    if probabilities == "toy":
        # A second run where the legs keep their toy chances of being caught, so that the
        # planner finds itineraries worth ranking and not only certain capture.
        for leg, toy_leg in zip(data["legs"], toy_data()["legs"], strict=True):
            leg["p_intercept"] = toy_leg["p_intercept"]
    atlas = load_atlas(write_atlas(tmp_path / "top", data))
    assert atlas.legs["river-wade"].duration_days.value == LIMITS["days"].high
    for month in (1, 7):
        # A ten-year leg slowed a hundredfold overall runs past the planner's horizon: that is
        # one clear answer, not an overflow.
        with pytest.raises(PlanError, match="the planner looks ahead"):
            plan(atlas, "home", "capital", month=month, today=None)
    # Everything else at its top, with journeys short enough to plan: the figures stay finite.
    _shorten(data)
    atlas = load_atlas(write_atlas(tmp_path / "short", data))
    for month in (1, 7):
        result = plan(atlas, "home", "capital", month=month, today=None)
        assert result.itineraries, "the planner should still find a way"
        out = result.to_json()
        json.dumps(out, allow_nan=False)  # raises on NaN or infinity
        numbers = list(_finite(out))
        assert numbers and all(math.isfinite(x) for x in numbers)
        # The figures really are at the top: prices a millionfold and more.
        assert max(it.cost_usd for it in result.itineraries) >= LIMITS["usd"].high


def _shorten(value: Any) -> None:
    """Every duration a day and every duration factor 1, in place, leaving the rest at the top."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "duration_days" and isinstance(item, dict):
                value[key] = {"value": 1, "source": J, "note": "a day"}
            elif key == "duration_factor":
                value[key] = {"value": 1, "source": J, "note": "no change"}
            else:
                _shorten(item)
    elif isinstance(value, list):
        for item in value:
            _shorten(item)


def test_the_quoted_overflow_is_one_error_not_a_crash(tmp_path: Path) -> None:
    base = write_atlas(tmp_path / "base", toy_data())
    leg = dict(toy_data()["legs"][2])
    leg["duration_days"] = {"value": 1e308, "source": J, "note": "x"}
    overlay = write_atlas(tmp_path / "overlay", {"legs": [leg]}, split=False)
    (problem,) = problems_of(base, overlays=(overlay,))
    assert "atlas.yaml:" in problem and "duration_days: got 1e+308" in problem
    assert "at most 3,653 days" in problem


# The fields of the toy that one test pushes just past their bound: (kind, index, path, quantity).
PAST = [
    ("legs", 0, ("duration_days",), "days"),
    ("legs", 0, ("cost_usd",), "usd"),
    ("legs", 4, ("distance_km",), "km"),
    ("legs", 0, ("detour_factor",), "factor"),
    ("legs", 0, ("p_intercept",), "probability"),
    ("legs", 0, ("p_wounded",), "probability"),
    ("legs", 0, ("seasonal", 0, "p_intercept_factor"), "factor"),
    ("actors", 0, ("price_factor",), "factor"),
    ("actors", 0, ("reliability", "sold"), "probability"),
    ("policies", 1, ("detention_days",), "days"),
    ("events", 0, ("effects", 0, "p_intercept_factor"), "factor"),
]


def _set(entry: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = entry
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


@pytest.mark.parametrize(("kind", "index", "path", "quantity"), PAST)
def test_just_past_a_bound_is_one_error_with_file_line_field(
    tmp_path: Path, kind: str, index: int, path: tuple[str | int, ...], quantity: str
) -> None:
    data = toy_data()
    if kind == "legs" and path == ("distance_km",):
        data["legs"][index].pop("detour_factor", None)
    past = math.nextafter(LIMITS[quantity].high, math.inf)
    _set(data[kind][index], path, {"value": past, "source": J, "note": "just past"})
    root = write_atlas(tmp_path / "a", data)
    (problem,) = problems_of(root)
    field = dotted(path)
    found = re.match(
        rf".*/{kind}\.yaml:(\d+): {re.escape(field)}: got {re.escape(repr(past))}", problem
    )
    assert found, problem
    line = (root / f"{kind}.yaml").read_text(encoding="utf-8").splitlines()[int(found[1]) - 1]
    assert line.strip().startswith(f"{path[-1]}:"), (problem, line)
    assert f"at most {LIMITS[quantity].amount(LIMITS[quantity].high)}" in problem or (
        "probability in [0, 1]" in problem
    )


def test_a_case_of_too_many_people_is_one_error(tmp_path: Path) -> None:
    data = toy_data()
    data["cases"][0]["people"] = int(LIMITS["people"].high) + 1
    (problem,) = problems_of(write_atlas(tmp_path / "a", data))
    assert re.search(r"cases\.yaml:\d+: people: got 1000001, must be <= 1000000", problem)


def test_a_lognormal_whose_mean_passes_the_bound_is_refused(tmp_path: Path) -> None:
    data = toy_data()
    # The median and p90 are inside ten years, but a spread this wide puts the mean outside.
    data["legs"][0]["duration_days"] = {"median": 100, "p90": 3500, "source": J, "note": "x"}
    # So wide that the mean overflows a float: still a clean error.
    data["legs"][1]["duration_days"] = {"median": 1e-300, "p90": 1, "source": J, "note": "x"}
    found = problems_of(write_atlas(tmp_path / "a", data))
    assert len(found) == 2
    assert all("duration_days: got" in p and "its mean" in p for p in found)


def test_a_detour_that_goes_round_the_earth_is_refused(toy: dict[str, Any], tmp_path: Path) -> None:
    toy["legs"][3]["detour_factor"] = {"value": 50, "source": J, "note": "x"}  # city -> haven
    (problem,) = problems_of(write_atlas(tmp_path / "a", toy))
    assert "detour_factor:" in problem and "more than 40,075 km" in problem


def test_the_bundled_atlas_keeps_well_inside_its_bounds() -> None:
    fields = bounded_fields()
    tops: dict[str, float] = {}
    for d in load_atlas().definitions.values():
        for path, model in walk(d.entry):
            if isinstance(model, Estimate):
                quantity = fields[next(p for p in reversed(path) if isinstance(p, str))]
                tops[quantity] = max(tops.get(quantity, 0.0), model.top)
    assert set(tops) == set(LIMITS)
    # Generous bounds: every bundled figure at most half its top (probabilities may reach 1).
    for quantity, top in tops.items():
        assert top <= LIMITS[quantity].high / (1 if quantity == "probability" else 2), quantity


# --- strict types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "index", "key", "value", "fragment"),
    [
        ("cases", 0, "months", [True], "months[0]: got True, expected a month 1-12"),
        ("cases", 0, "people", True, "people: got True, expected a whole number"),
        ("cases", 0, "people", "3", "people: got '3', expected a whole number, not text"),
        ("cases", 0, "year", "2005", "year: got '2005', expected a whole number, not text"),
        ("places", 0, "lat", "41.4", "lat: got '41.4', expected a number, not text"),
        ("actors", 0, "pay_later", "no", "pay_later: got 'no', expected true or false"),
        ("events", 0, "date", 20111217, "date: got 20111217, expected a date"),
    ],
)
def test_booleans_and_numeric_strings_are_refused(
    tmp_path: Path, kind: str, index: int, key: str, value: Any, fragment: str
) -> None:
    data = toy_data()
    data[kind][index][key] = value
    (problem,) = problems_of(write_atlas(tmp_path / "a", data))
    assert re.search(rf"{kind}\.yaml:\d+: ", problem) and fragment in problem, problem


def test_a_quoted_number_in_an_estimate_is_refused(tmp_path: Path) -> None:
    root = write_atlas(tmp_path / "a", toy_data())
    text = (root / "legs.yaml").read_text(encoding="utf-8")
    assert "  cost_usd:\n    value: 1500\n" in text
    text = text.replace("  cost_usd:\n    value: 1500\n", "  cost_usd:\n    value: '1500'\n", 1)
    (root / "legs.yaml").write_text(text, encoding="utf-8")
    (problem,) = problems_of(root)
    assert "cost_usd.value: got '1500', expected a number, not text" in problem


def test_months_yes_written_in_yaml_is_not_january(tmp_path: Path) -> None:
    root = write_atlas(tmp_path / "a", toy_data())
    path = root / "cases.yaml"
    text = path.read_text(encoding="utf-8")
    assert "  months:\n  - 1\n" in text
    path.write_text(text.replace("  months:\n  - 1\n", "  months: [yes]\n"), encoding="utf-8")
    (problem,) = problems_of(root)
    line = text.splitlines().index("  months:") + 1
    assert f"cases.yaml:{line}: months[0]: got True" in problem


# --- files ----------------------------------------------------------------------------------


def _odd(root: Path, what: str) -> Path:
    path = root / f"odd-{what}.yaml"
    if what == "directory":
        path.mkdir()
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "dangling":
        path.symlink_to(root / "nothing-here")
    elif what == "device":
        path.symlink_to("/dev/null")
    return path


@pytest.mark.parametrize(
    ("what", "fragment"),
    [
        ("directory", "a directory"),
        ("fifo", "a named pipe"),
        ("dangling", "which does not exist"),  # the message names the link's target
        ("device", "a link to '/dev/null', a device"),
    ],
)
def test_a_yaml_entry_that_is_not_a_regular_file_is_an_error(
    tmp_path: Path, what: str, fragment: str
) -> None:
    if what == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    root = write_atlas(tmp_path / "a", toy_data())
    _odd(root, what)
    (problem,) = problems_of(root)
    assert f"odd-{what}.yaml: (file): " in problem
    assert f"{fragment}, not a data file" in problem


@pytest.mark.parametrize("name", ["extra.YAML", "extra.yml", "extra.Yml"])
def test_yaml_files_are_read_whatever_the_case_of_their_suffix(tmp_path: Path, name: str) -> None:
    data = toy_data()
    root = write_atlas(tmp_path / "a", data)
    extra = dict(data["places"][2], id="second-city", name="Second city")
    (root / name).write_text(yaml.safe_dump({"places": [extra]}), encoding="utf-8")
    assert "second-city" in load_atlas(root).places


def test_a_byte_that_is_not_utf8_is_located_to_its_line(tmp_path: Path) -> None:
    root = write_atlas(tmp_path / "a", toy_data())
    (root / "latin1.yaml").write_bytes(b"# notes\nsources: []\n# caf\xe9\n")
    (problem,) = problems_of(root)
    assert "latin1.yaml:3: (file): not UTF-8 text: byte 0xe9" in problem


def test_a_control_character_is_located_to_its_line(tmp_path: Path) -> None:
    data = toy_data()
    root = write_atlas(tmp_path / "a", data)
    (root / "ctrl.yaml").write_text("# notes\n\nsources: []  # a\x01b\n", encoding="utf-8")
    (problem,) = problems_of(root)
    assert "ctrl.yaml:3: (file): character U+0001 is not allowed in YAML" in problem


def _tab_in_sources(root: Path) -> int:
    path = root / "sources.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = "\t" + lines[2].lstrip()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 3


def test_a_tab_in_sources_gives_the_parse_error_not_a_flood(tmp_path: Path) -> None:
    root = write_atlas(tmp_path / "a", toy_data())
    line = _tab_in_sources(root)
    (problem,) = problems_of(root)
    assert f"sources.yaml:{line}: (file): not valid YAML: found a tab character" in problem


def test_a_reference_missing_from_every_file_is_still_reported(tmp_path: Path) -> None:
    data = toy_data()
    data["places"][0]["source"] = "no-such-source"
    root = write_atlas(tmp_path / "a", data)
    _tab_in_sources(root)
    found = problems_of(root)
    assert len(found) == 2
    assert any("places.yaml:" in p and "unknown source 'no-such-source'" in p for p in found)


def test_a_kind_that_is_not_a_list_does_not_flood_either(tmp_path: Path) -> None:
    data = toy_data()
    root = write_atlas(tmp_path / "a", data)
    (root / "sources.yaml").write_text(yaml.safe_dump({"sources": data["sources"][0]}), "utf-8")
    (problem,) = problems_of(root)
    assert "sources.yaml:1: sources: expected a list of sources" in problem


ALIASED = """\
legs:
  - &bad
    id: bad-leg
    name: Broken on purpose
    from: home
    to: nowhere
    mode: walk
    operator: broker
    duration_days: {value: -1, source: toy-judgement, note: x}
    cost_usd: {value: 1, source: toy-judgement, note: x}
    p_intercept: {value: 2, source: toy-judgement, note: x}
    detour_factor: {value: 1, source: toy-judgement, note: x}
    source: toy-judgement
"""


def _aliases(root: Path, n: int) -> None:
    (root / "aliased.yaml").write_text(ALIASED + "  - *bad\n" * n, encoding="utf-8")


def test_many_aliases_of_one_bad_entry_are_summarised(tmp_path: Path) -> None:
    root = write_atlas(tmp_path / "a", toy_data())
    _aliases(root, 5000)
    found = problems_of(root)
    assert len(found) == 4  # to, mode, duration_days, p_intercept
    assert all(p.endswith("(leg bad-leg) (5,001 times)") for p in found), found


def _cli_check(root: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["atlas", "check", str(root)])
    return result.exit_code, result.output.splitlines()


@pytest.mark.parametrize("case", ["tab", "aliases", "fifo", "overflow"])
def test_atlas_check_output_stays_short(tmp_path: Path, case: str) -> None:
    data = toy_data()
    if case == "overflow":
        data["legs"][2]["cost_usd"] = {"value": 1e308, "source": J, "note": "x"}
    root = write_atlas(tmp_path / "a", data)
    if case == "tab":
        _tab_in_sources(root)
    elif case == "aliases":
        _aliases(root, 5000)
    elif case == "fifo":
        _odd(root, "fifo")
    code, lines = _cli_check(root)
    assert code == 1
    assert 2 <= len(lines) <= 6, lines
    assert lines[-1].startswith("nkescape: the atlas has")
    assert not any("Traceback" in line for line in lines)


def _baseline_event(factor: float) -> dict[str, Any]:
    data = toy_data()
    event = data["events"][0]
    event["date"], event["in_baseline"] = "2035-01-01", True
    event["effects"][0]["p_intercept_factor"] = {"value": factor, "source": J, "note": "x"}
    return data


def test_a_baseline_factor_that_cannot_be_undone_is_refused(tmp_path: Path) -> None:
    (problem,) = problems_of(write_atlas(tmp_path / "a", _baseline_event(0.0)))
    assert re.search(r"events\.yaml:\d+: events\[0\]: effects\[0\]\.p_intercept_factor 0 ", problem)
    assert "cannot be undone" in problem


def test_the_smallest_baseline_factor_still_plans_history(tmp_path: Path) -> None:
    smallest = 1 / LIMITS["factor"].high
    atlas = load_atlas(write_atlas(tmp_path / "a", _baseline_event(smallest)))
    # Before the event's date, history divides the legs' odds by the factor.
    result = plan(atlas, "home", "capital", month=1, history=True)
    assert result.itineraries
    json.dumps(result.to_json(), allow_nan=False)


# --- a case's own legs and party (issue 17) -----------------------------------------------------


def _case_problem(tmp_path: Path, **fields: Any) -> str:
    data = toy_data()
    data["cases"][0].update(fields)
    (problem,) = problems_of(write_atlas(tmp_path / "a", data))
    return problem


def test_a_case_with_a_leg_per_hop_loads(tmp_path: Path) -> None:
    data = toy_data()
    legs = ["river-ice", "bank-city-bus", "city-haven-bus", "haven-capital-flight"]
    data["cases"][0].update(legs=legs, group="2w,1c")
    atlas = load_atlas(write_atlas(tmp_path / "a", data))
    case = atlas.cases["winter-escape"]
    assert case.legs == tuple(legs) and case.group == "2w,1c"


def test_a_case_leg_that_misses_its_hop_is_located(tmp_path: Path) -> None:
    legs = ["river-ice", "city-haven-bus", "city-haven-bus", "haven-capital-flight"]
    problem = _case_problem(tmp_path, legs=legs)
    assert re.search(
        r"cases\.yaml:\d+: legs\[1\]: leg 'city-haven-bus' goes 'city' -> 'haven', not 'bank' -> "
        r"'city'",
        problem,
    ), problem


def test_a_case_needs_one_leg_per_hop_and_legs_of_its_season(tmp_path: Path) -> None:
    problem = _case_problem(tmp_path, legs=["river-ice"])
    assert re.search(r"cases\.yaml:\d+: legs: 1 legs for 4 hops", problem), problem
    legs = ["river-wade", "bank-city-bus", "city-haven-bus", "haven-capital-flight"]
    problem = _case_problem(tmp_path / "b", legs=legs)  # January: the river is frozen
    assert re.search(r"cases\.yaml:\d+: legs\[0\]: leg 'river-wade' is not used in months", problem)


def test_a_case_leg_that_does_not_exist_is_named(tmp_path: Path) -> None:
    legs = ["river-ice", "bank-city-bus", "city-haven-bus", "haven-capital-flihgt"]
    problem = _case_problem(tmp_path, legs=legs)
    assert re.search(r"cases\.yaml:\d+: legs\[3\]: unknown leg 'haven-capital-flihgt'", problem)


@pytest.mark.parametrize("group", ["2x", "w2", "2w,,1c", ""])
def test_a_case_party_not_in_the_planners_notation_is_refused(tmp_path: Path, group: str) -> None:
    problem = _case_problem(tmp_path, group=group)
    assert re.search(r"cases\.yaml:\d+: group: ", problem), problem
